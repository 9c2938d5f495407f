/* PoliceTwin Run page: the name and size of each file chosen in the upload box (file picker or drop) go to
   the run-upload-picked store, before dcc.Upload handles it. dcc.Upload drops a file over its max_size
   without a word; with this, the page's callback (pages/run.py:_picked) says that it is too large. */
(function () {
  "use strict";
  function report(files) {
    if (!files || !files.length || !window.dash_clientside || !window.dash_clientside.set_props) return;
    var f = files[0];
    window.dash_clientside.set_props("run-upload-picked", { data: { name: f.name, size: f.size, n: Date.now() } });
  }
  function inBox(el) {
    return el && el.closest && el.closest("#run-upload-box");
  }
  // capture phase: seen before the upload box's own handlers
  document.addEventListener("change", function (e) {
    if (inBox(e.target) && e.target.files) report(e.target.files);
  }, true);
  document.addEventListener("drop", function (e) {
    if (inBox(e.target) && e.dataTransfer) report(e.dataTransfer.files);
  }, true);
})();
