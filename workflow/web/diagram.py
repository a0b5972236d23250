"""The pipeline's state diagram, drawn by transitions' diagram support (graphviz) once per
process; a case page only marks its current state in the cached SVG."""
from __future__ import annotations

import re
import shutil
from functools import cache

from markupsafe import Markup
from transitions.extensions.diagrams import HierarchicalGraphMachine
from transitions.extensions.nesting import NestedState

from workflow import machine
from workflow.states import STAGES

CURRENT_FILL = "#fcd34d"


class _State(NestedState):
    separator = machine.SEPARATOR


class _GraphMachine(HierarchicalGraphMachine):
    state_cls = _State


class _Model:
    state: str


def _labels() -> dict[str, str]:
    labels = {machine.INITIAL_STATE: "尚未申请"}
    for stage in STAGES:
        labels[stage.STAGE] = stage.ZH
        for sub, zh in stage.SUBSTATES.items():
            labels[f"{stage.STAGE}{machine.SEPARATOR}{sub}"] = zh
    return labels


def _dot_source() -> str:
    g = _GraphMachine(model=None, states=machine.state_definitions(), initial=machine.INITIAL_STATE,
                      auto_transitions=False, graph_engine="graphviz", title="发展党员流程")
    for t in machine.all_transitions():
        g.add_transition(t.trigger, t.source, t.dest)
    model = _Model()
    g.add_model(model, initial=machine.INITIAL_STATE)
    source: str = model.get_graph().source  # type: ignore[attr-defined]
    for state, zh in _labels().items():
        short = state.rsplit(machine.SEPARATOR, 1)[-1]
        source = source.replace(f'"{state}" [label="{short}\\l"', f'"{state}" [label="{short}\\l{zh}\\l"')
        source = source.replace(f'label="{state}\\l" rank', f'label="{state} {zh}\\l" rank')
    return source.replace("darksalmon", "white")


@cache
def base_svg() -> str | None:
    if shutil.which("dot") is None:
        return None
    import graphviz
    svg = graphviz.Source(_dot_source()).pipe(format="svg").decode("utf-8")
    return svg[svg.index("<svg"):]


def svg(state: str) -> Markup | None:
    base = base_svg()
    if base is None:
        return None
    pattern = re.compile(r"(<title>" + re.escape(state) + r"</title>\s*<path fill=\")([^\"]*)")
    return Markup(pattern.sub(lambda m: m.group(1) + CURRENT_FILL, base, count=1))
