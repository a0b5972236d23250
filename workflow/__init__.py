"""发展党员全程纪实: the member-development workflow, its rules and its adapters."""
