// Dependent select: load a country's cities without a page reload.
// Without JavaScript the country form is submitted (GET ?country=XX) and the server fills them in.
(function () {
  "use strict";
  var country = document.getElementById("id_country");
  var hidden = document.getElementById("id_country_hidden");
  var city = document.getElementById("id_zip");
  var form = document.getElementById("weather-form");
  if (!country || !city || !form) return;

  function setOptions(placeholder, cities) {
    city.innerHTML = "";
    var first = document.createElement("option");
    first.value = "";
    first.textContent = placeholder;
    city.appendChild(first);
    cities.forEach(function (c) {
      var opt = document.createElement("option");
      opt.value = c.zip;
      opt.textContent = c.name + " (" + c.zip + ")";
      city.appendChild(opt);
    });
  }

  var latest = 0;  // only the answer to the newest request may fill the list

  // Units follow the country (imperial for the US, its territories, Liberia and Myanmar) until
  // the passenger picks some; the server leaves data-imperial-countries out once a choice is
  // remembered in the session.
  var imperial = (form.dataset.imperialCountries || "").split(" ").filter(Boolean);
  var unitsPicked = !imperial.length;
  var unitRadios = form.querySelectorAll("input[name=units]");
  unitRadios.forEach(function (radio) {
    radio.addEventListener("change", function () { unitsPicked = true; });
  });
  function followUnits(code) {
    if (unitsPicked) return;
    var wanted = imperial.indexOf(code) >= 0 ? "imperial" : "metric";
    unitRadios.forEach(function (radio) { radio.checked = radio.value === wanted; });
  }

  country.addEventListener("change", function () {
    var request = ++latest;
    hidden.value = country.value;
    followUnits(country.value);
    if (!country.value) {
      setOptions("Choose a country first", []);
      city.disabled = false;
      city.removeAttribute("aria-busy");
      return;
    }
    city.disabled = true;
    city.setAttribute("aria-busy", "true");  // screen readers: the list is being replaced
    setOptions("Loading cities…", []);
    fetch(form.dataset.citiesUrl + "?country=" + encodeURIComponent(country.value),
          { headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        if (request !== latest) return;
        setOptions("Choose a city…", data.cities);
        city.disabled = false;
        city.removeAttribute("aria-busy");
        city.focus();
      })
      .catch(function () {
        // Fall back to the no-JavaScript path: reload with the country chosen.
        if (request === latest) document.getElementById("country-form").submit();
      });
  });
})();
