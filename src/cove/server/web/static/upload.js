// The upload page's drop zone: dropped files join those of the file input, which the form submits.
for (const zone of document.querySelectorAll("[data-dropzone]")) {
  const input = document.getElementById(zone.dataset.dropzone);
  const list = zone.querySelector(".drop-list");
  const show = () => {
    const names = Array.from(input.files, (f) => f.name);
    list.textContent = names.length ? names.join(", ") : "No files chosen";
  };
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const all = new DataTransfer();
    for (const f of input.files) all.items.add(f);
    for (const f of e.dataTransfer.files) all.items.add(f);
    input.files = all.files;
    show();
  });
  input.addEventListener("change", show);
}
