// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // one click submits once: a second click while the first is on its way is ignored
  document.querySelectorAll("form").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) { event.preventDefault(); return; }
      const limit = Number(form.dataset.maxBytes || 0);
      const file = form.querySelector('input[type="file"]');
      if (limit && file && file.files.length && file.files[0].size > limit) {
        event.preventDefault();
        alert("证明材料超过 " + Math.round(limit / 1048576) + " MB，请压缩或拆分后再上传。");
        return;
      }
      form.dataset.sent = "1";
      form.querySelectorAll("button[data-once]").forEach((b) => { b.disabled = true; b.textContent = "提交中…"; });
    });
  });
  document.querySelectorAll("a[data-back]").forEach((a) => {
    a.addEventListener("click", (event) => {
      if (history.length > 1) { event.preventDefault(); history.back(); }
    });
  });
});
