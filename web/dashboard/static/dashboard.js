// garde dashboard: the little JavaScript it uses. Pages work without it.
"use strict";
(function () {
  // Breach clocks count down live from the server's remaining time.
  var loaded = Date.now();
  function fmt(ms, el) {
    var late = ms < 0;
    if (late) ms = -ms;
    var m = Math.floor(ms / 60000), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60, s = Math.floor(ms / 1000) % 60;
    var text = d > 0 ? d + " d " + h + " h " + (mm < 10 ? "0" : "") + mm + " min" : h + " h " + (mm < 10 ? "0" : "") + mm + " min " + (s < 10 ? "0" : "") + s + " s";
    if (document.documentElement.lang === "fr") text = text.replace(" d ", " j ");
    var pattern = late ? el.getAttribute("data-late") : el.getAttribute("data-left");
    return pattern ? pattern.replace("%s", text) : text;
  }
  function tick() {
    var els = document.querySelectorAll(".clock[data-left-ms]");
    for (var i = 0; i < els.length; i++) {
      var left = parseInt(els[i].getAttribute("data-left-ms"), 10) - (Date.now() - loaded);
      els[i].textContent = fmt(left, els[i]);
      els[i].classList.toggle("late", left < 0);
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector(".clock[data-left-ms]")) {
      tick();
      setInterval(tick, 1000);
    }
    // Forms that destroy something ask first.
    var forms = document.querySelectorAll("form.confirm");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (e) {
        if (!window.confirm(this.getAttribute("data-confirm"))) e.preventDefault();
      });
    }
  });
})();
