// Rails' data-confirm: ask before submitting a form that carries one (e.g. Destroy).
document.addEventListener("submit", (event) => {
  const form = event.target
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault()
})
