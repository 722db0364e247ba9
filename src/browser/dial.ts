/** Browser dial: ws:// and wss:// only, through the native WebSocket (or an injected one). */
import { InvalidOptionError } from '../errors.js';
import type { Dial, DialOwner, DialSettings } from '../client/dial.js';
import type { DialFn } from '../client/link.js';
import { serverUrl, type ServerAddress } from '../client/servers.js';
import { BrowserWsTransport, type WebSocketLike } from '../transport/ws-browser.js';

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export function browserDial(WebSocketImpl: WebSocketConstructor | undefined): DialFn {
  return (server: ServerAddress, _settings: DialSettings, owner: DialOwner): Dial => {
    const t = server.transport ?? 'tcp';
    if ((t !== 'ws' && t !== 'wss') || WebSocketImpl === undefined) {
      const why = WebSocketImpl === undefined ? 'no WebSocket in this runtime' : `a browser can only dial ws:// or wss://, not ${t}`;
      let aborted = false;
      queueMicrotask(() => aborted || owner.dialFailed(new InvalidOptionError('servers', why)));
      return { abort: () => void (aborted = true) };
    }
    let done = false;
    const ws = new WebSocketImpl(serverUrl(server));
    ws.binaryType = 'arraybuffer';
    const cleanup = (): void => {
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('error', onError);
    };
    const onOpen = (): void => {
      cleanup();
      if (done) return void ws.close(1000);
      done = true;
      owner.dialed(new BrowserWsTransport(ws), undefined);
    };
    const onError = (): void => {
      cleanup();
      if (done) return;
      done = true;
      owner.dialFailed(new Error(`WebSocket to ${serverUrl(server)} failed`));
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('error', onError);
    return {
      abort() {
        done = true;
        cleanup();
        if (ws.readyState < 2) ws.close(1000);
      },
    };
  };
}
