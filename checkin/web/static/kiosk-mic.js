// AudioWorklet for the spoken kiosk: the microphone at the context's rate in, 20 ms frames of
// 16 kHz mono PCM16 (little-endian) out to the page, which sends them on the WebSocket.
// Decimation is a box filter with a fractional step: crude as a filter, but speech keeps its
// words below 8 kHz and the recogniser (Whisper at 16 kHz) does not need more.
class KioskMicCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / 16000;  // input samples per output sample (3 at 48 kHz)
    this.t = 0; this.sum = 0; this.count = 0; this.last = 0;
    this.frame = new Int16Array(320);  // 20 ms at 16 kHz
    this.n = 0;
  }
  emit(v) {
    const s = Math.max(-1, Math.min(1, v));
    this.frame[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    if (this.n === this.frame.length) {
      this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
      this.frame = new Int16Array(320);
      this.n = 0;
    }
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.sum += channel[i]; this.count += 1; this.t += 1;
      while (this.t >= this.step) {
        this.t -= this.step;
        if (this.count) { this.last = this.sum / this.count; this.sum = 0; this.count = 0; }
        this.emit(this.last);
      }
    }
    return true;
  }
}
registerProcessor("kiosk-mic-capture", KioskMicCapture);
