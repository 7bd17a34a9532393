// The component page: a Destroy button stays disabled until the component's name is
// typed (the server checks it too), and a submitted form cannot be sent twice.
(function () {
  "use strict";
  document.querySelectorAll("input[data-confirm]").forEach(function (input) {
    var button = input.form.querySelector("[data-needs-confirm]");
    if (!button) return;
    function update() { button.disabled = input.value.trim() !== input.dataset.confirm; }
    input.addEventListener("input", update);
    update();
  });
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();
