// A live view in a <video>: the server's fMP4 websocket fed to Media Source Extensions, kept
// close to now (jump when over 1 s behind, skip ahead on a `dropped` notice).

export function playLive(video: HTMLVideoElement, path: string, onClose: (code: number) => void): () => void {
  const source = new MediaSource();
  const url = URL.createObjectURL(source);
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path);
  ws.binaryType = 'arraybuffer';
  const queue: ArrayBuffer[] = [];
  let buffer: SourceBuffer | null = null;
  let mime: string | null = null;
  let jump = true;
  let stopped = false;
  video.src = url;

  const pump = () => {
    if (!buffer || buffer.updating || stopped || queue.length === 0) return;
    try {
      buffer.appendBuffer(queue.shift() as ArrayBuffer);
    } catch {
      if (video.currentTime > 1) buffer.remove(0, video.currentTime - 1);
    }
  };
  const settle = () => {
    if (!buffer || stopped) return;
    const ranges = buffer.buffered;
    if (ranges.length > 0) {
      const end = ranges.end(ranges.length - 1);
      if (jump || end - video.currentTime > 1.0) {
        jump = false;
        video.currentTime = Math.max(ranges.start(ranges.length - 1), end - 0.2);
        void video.play().catch(() => undefined);
      }
      if (!buffer.updating && video.currentTime - ranges.start(0) > 40) {
        buffer.remove(0, video.currentTime - 30);
        return;
      }
    }
    pump();
  };
  const setUp = () => {
    if (buffer || !mime || source.readyState !== 'open') return;
    buffer = source.addSourceBuffer(mime);
    buffer.addEventListener('updateend', settle);
    pump();
  };
  source.addEventListener('sourceopen', () => { URL.revokeObjectURL(url); setUp(); }, { once: true });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') {
      queue.push(ev.data as ArrayBuffer);
      pump();
      return;
    }
    const msg = JSON.parse(ev.data);
    if (msg.type === 'init') {
      mime = msg.mimeType;
      setUp();
    } else if (msg.type === 'dropped') {
      jump = true;
    }
  });
  ws.addEventListener('close', (ev) => { if (!stopped) onClose(ev.code); });
  return () => {
    stopped = true;
    ws.close(1000);
    video.removeAttribute('src');
    video.load();
  };
}
