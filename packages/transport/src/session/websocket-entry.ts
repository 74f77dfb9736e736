// @nocopy/transport/websocket: WebSocket (WS and WSS) session servers, on `ws`. A subpath of its
// own, so that importing @nocopy/transport does not load `ws`. The client is createSessionClient({ transport: 'websocket' }).
export {
  WebSocketSessionServer,
  createWebSocketSessionServer,
  type WebSocketSessionServerOptions,
  type WebSocketSessionServerStats,
  type WebSocketListenOptions,
  type WebSocketLinkOptions,
  webSocketMessages,
} from './websocket.js';
