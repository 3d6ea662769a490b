// The console's sponsor form: each band's preview follows its text as it is typed.
document.querySelectorAll('#sponsor-form input[data-band]').forEach(function (input) {
  input.addEventListener('input', function () {
    var bar = document.querySelector('[data-preview="' + input.dataset.band + '"]');
    if (bar) bar.textContent = 'Sponsor: ' + input.value;
  });
});
