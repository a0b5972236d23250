// Live vote arithmetic on step forms: the same formula as workflow/votes.py (quorum: present >
// eligible / 2; passed: quorum and yes > eligible / 2); the server recomputes and decides.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-vote]").forEach((box) => {
    const out = box.querySelector("[data-tally]");
    const read = (name) => {
      const el = box.querySelector(`[data-vote-field="${name}"]`);
      const n = parseInt(el && el.value, 10);
      return Number.isNaN(n) ? null : n;
    };
    const update = () => {
      const [e, p, w, y, n, a] = ["eligible", "present", "written", "yes", "no", "abstain"].map(read);
      if (e === null || p === null || y === null) { out.textContent = ""; return; }
      const problems = [];
      if (p > e) problems.push("实到人数超过应到人数");
      if ((w || 0) > e - p) problems.push("书面意见人数超过缺席人数");
      if (y + (n || 0) + (a || 0) > p + (w || 0)) problems.push("票数合计超过实到加书面意见人数");
      if (problems.length) { out.textContent = "无效：" + problems.join("；"); out.className = "tally failed"; return; }
      const quorum = 2 * p > e, passed = quorum && 2 * y > e;
      out.textContent = (quorum ? "到会人数过半" : "到会人数未过半，会议无效") + "；" +
        (passed ? "赞成票超过应到人数半数：通过" : "赞成票未超过应到人数半数：未通过");
      out.className = "tally " + (passed ? "passed" : "failed");
    };
    box.addEventListener("input", update);
    update();
  });
});
