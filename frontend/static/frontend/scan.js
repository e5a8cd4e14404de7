// Scan a check-in QR with the camera where the browser can (BarcodeDetector);
// elsewhere the scanner stays hidden and the code is typed.
const box = document.querySelector("[data-scanner]");
if (box && "BarcodeDetector" in window && navigator.mediaDevices) {
  box.hidden = false;
  const target = document.querySelector(box.dataset.target);
  const video = box.querySelector("[data-scan-video]");
  box.querySelector("[data-scan-start]").addEventListener("click", async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    await video.play();
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const loop = async () => {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) {
        let text = codes[0].rawValue;
        try {
          const url = new URL(text);
          text = url.searchParams.get("code") || url.searchParams.get("token") || text;
        } catch {}
        target.value = text;
        stream.getTracks().forEach((t) => t.stop());
        target.focus();
        return;
      }
      requestAnimationFrame(loop);
    };
    loop();
  });
}
