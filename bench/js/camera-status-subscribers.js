// node camera-status-subscribers.js <base url> <token> <sockets> <per socket> <seconds>:
// opens <sockets> graphql-transport-ws sockets with <per socket> `cameraStatus` subscriptions
// each, counts what arrives, and prints {open, msgs} after <seconds>. Used by
// bench/camera-status-readers; needs the console's node_modules (web/, for `ws`).
const path = require('path');
const WebSocket = require(path.join(__dirname, '..', '..', 'web', 'node_modules', 'ws'));
const [base, token, sockets, per, seconds] = process.argv.slice(2);
let open = 0, msgs = 0;
for (let s = 0; s < +sockets; s++) {
  const ws = new WebSocket(base.replace('http', 'ws') + '/graphql/ws', 'graphql-transport-ws');
  ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer ' + token } })));
  ws.on('message', (d) => {
    const m = JSON.parse(d);
    if (m.type === 'connection_ack') {
      open++;
      for (let i = 0; i < +per; i++) ws.send(JSON.stringify({ id: 's' + i, type: 'subscribe', payload: { query: 'subscription { cameraStatus { cameraId status { state } } }' } }));
    } else if (m.type === 'next') msgs++;
    else if (m.type === 'error') console.error(JSON.stringify(m));
  });
  ws.on('error', (e) => console.error('ws error', e.message));
}
setTimeout(() => { console.log(JSON.stringify({ open, msgs })); process.exit(0); }, +seconds * 1000);
