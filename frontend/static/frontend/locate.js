// Fill the home coordinates from the device, where the browser allows it.
const button = document.querySelector("[data-locate]");
if (button && navigator.geolocation) {
  button.hidden = false;
  button.addEventListener("click", () => {
    navigator.geolocation.getCurrentPosition((pos) => {
      document.querySelector(button.dataset.lat).value = pos.coords.latitude.toFixed(6);
      document.querySelector(button.dataset.lon).value = pos.coords.longitude.toFixed(6);
    });
  });
}
