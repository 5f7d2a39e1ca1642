// The order form: a running total, and a preview of the chosen picture.
(() => {
  "use strict";
  const form = document.getElementById("order-form");
  if (!form) return;
  const product = form.querySelector("#product");
  const quantity = form.querySelector("#quantity");
  const total = form.querySelector("#total");
  const image = form.querySelector("#image");
  const preview = form.querySelector("#preview");
  const euros = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

  const update = () => {
    const cents = Number(product.selectedOptions[0].dataset.price) * Number(quantity.value || 0);
    total.textContent = euros.format(cents / 100);
  };
  product.addEventListener("change", update);
  quantity.addEventListener("input", update);
  update();

  image.addEventListener("change", () => {
    const file = image.files[0];
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !file;
    if (file) preview.src = URL.createObjectURL(file);
  });
})();
