/*
 * Heldar GraphQL: glue for the GraphiQL page (our own code).
 *
 * The libraries are loaded by index.html as separate files, exposing the
 * globals React, ReactDOM, graphqlWs (graphql-ws UMD) and GraphiQL.
 *
 * - HTTP: POST <data-http-endpoint> (default /graphql), JSON, with
 *   "Authorization: Bearer <accessToken>" when signed in.
 * - WebSocket: <data-ws-endpoint> (default /graphql/ws), subprotocol
 *   graphql-transport-ws, connection_init payload
 *   {"authorization": "Bearer <accessToken>"} when signed in.
 * - Tokens live in sessionStorage and are rotated with refreshSession when
 *   the access token is within 60 s of expiresAt; the socket then reconnects
 *   (running subscriptions are re-subscribed by graphql-ws).
 */
(function () {
  'use strict';

  var React = window.React;
  var ReactDOM = window.ReactDOM;
  var GraphiQL = window.GraphiQL;
  var graphqlWs = window.graphqlWs;

  var STORAGE_KEY = 'heldar.graphiql.session';
  var REFRESH_MARGIN_MS = 60 * 1000;
  var MIN_REFRESH_INTERVAL_MS = 10 * 1000;
  var REFRESH_RETRY_MS = 10 * 1000;

  var SESSION_FIELDS = 'accessToken refreshToken expiresAt principal { id name role }';
  var LOGIN_MUTATION =
    'mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) { ' +
    SESSION_FIELDS + ' } }';
  var REFRESH_MUTATION =
    'mutation($t: String!) { refreshSession(refreshToken: $t) { ' + SESSION_FIELDS + ' } }';
  var LOGOUT_MUTATION = 'mutation { logout }';

  var DEFAULT_QUERY = [
    '# Welcome to Heldar GraphQL.',
    '#',
    '# Sign in with the bar above (or paste an access token), then run',
    '# operations with Ctrl-Enter. Subscriptions stream over the websocket.',
    '',
    '{',
    '  __typename',
    '}',
    ''
  ].join('\n');

  var dataset = document.body.dataset;
  var HTTP_URL = new URL(dataset.httpEndpoint || '/graphql', window.location.href).href;
  var WS_URL = (function () {
    var u = new URL(dataset.wsEndpoint || '/graphql/ws', window.location.href);
    u.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  })();

  function $(id) {
    return document.getElementById(id);
  }

  var ui = {
    loginForm: $('heldar-login-form'),
    username: $('heldar-username'),
    password: $('heldar-password'),
    tokenForm: $('heldar-token-form'),
    token: $('heldar-token'),
    sessionBox: $('heldar-session'),
    who: $('heldar-who'),
    signout: $('heldar-signout'),
    message: $('heldar-message')
  };

  // ---------------------------------------------------------------- helpers

  /** expiresAt may be RFC 3339 text, epoch seconds or epoch milliseconds. */
  function parseExpiresAt(value) {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number' && isFinite(value)) {
      return value < 1e12 ? value * 1000 : value;
    }
    if (typeof value === 'string') {
      var text = value.trim();
      if (/^\d+(\.\d+)?$/.test(text)) return parseExpiresAt(Number(text));
      var ms = Date.parse(text);
      return isNaN(ms) ? null : ms;
    }
    return null;
  }

  /** Best effort: the exp claim of a JWT, in ms, or null. Display only. */
  function jwtExpiry(token) {
    try {
      var part = token.split('.')[1];
      if (!part) return null;
      var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      while (b64.length % 4) b64 += '=';
      var claims = JSON.parse(window.atob(b64));
      return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
    } catch (e) {
      return null;
    }
  }

  function showMessage(text, isError) {
    ui.message.textContent = text || '';
    ui.message.classList.toggle('is-error', !!isError);
  }

  function setBusy(busy) {
    var buttons = document.querySelectorAll('.heldar-bar button');
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = busy;
  }

  /**
   * POST a GraphQL operation for the sign-in bar itself. Resolves with `data`;
   * rejects with errors[0].message when the server reports GraphQL errors.
   */
  function postGraphQL(query, variables, accessToken) {
    var headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (accessToken) headers.authorization = 'Bearer ' + accessToken;
    var body = { query: query };
    if (variables) body.variables = variables;
    return window
      .fetch(HTTP_URL, {
        method: 'POST',
        headers: headers,
        body: JSON.stringify(body),
        credentials: 'same-origin'
      })
      .then(function (res) {
        return res.json().then(
          function (json) {
            if (json && Array.isArray(json.errors) && json.errors.length > 0) {
              var err = new Error(String(json.errors[0].message || 'Unknown GraphQL error'));
              err.graphql = true;
              throw err;
            }
            if (!res.ok) throw new Error('HTTP ' + res.status + ' ' + res.statusText);
            return (json && json.data) || {};
          },
          function () {
            var err = new Error(('HTTP ' + res.status + ' ' + res.statusText).trim());
            err.graphql = res.status >= 400 && res.status < 500;
            throw err;
          }
        );
      });
  }

  // ---------------------------------------------------------------- session

  function loadSession() {
    try {
      var raw = window.sessionStorage.getItem(STORAGE_KEY);
      if (!raw) return null;
      var s = JSON.parse(raw);
      return s && typeof s.accessToken === 'string' && s.accessToken ? s : null;
    } catch (e) {
      return null;
    }
  }

  var session = loadSession();
  var refreshTimer = null;
  var refreshing = null;

  function sessionFromPayload(payload, source) {
    if (!payload || typeof payload.accessToken !== 'string' || !payload.accessToken) {
      throw new Error('The server returned no access token.');
    }
    return {
      source: source,
      accessToken: payload.accessToken,
      refreshToken: payload.refreshToken || null,
      expiresAt: parseExpiresAt(payload.expiresAt),
      issuedAt: Date.now(),
      principal: payload.principal || null
    };
  }

  function setSession(next) {
    session = next;
    try {
      if (next) window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
      else window.sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      /* storage unavailable: keep the session in memory only */
    }
    renderBar();
    scheduleRefresh();
  }

  /** When to rotate: 60 s before expiry (or half-way for very short lifetimes). */
  function refreshDueAt(s) {
    if (!s || !s.refreshToken || !s.expiresAt) return null;
    var lifetime = s.expiresAt - (s.issuedAt || Date.now());
    var margin = Math.min(REFRESH_MARGIN_MS, Math.max(lifetime / 2, 0));
    return Math.max(s.expiresAt - margin, (s.issuedAt || 0) + MIN_REFRESH_INTERVAL_MS);
  }

  function scheduleRefresh(delayOverride) {
    if (refreshTimer !== null) window.clearTimeout(refreshTimer);
    refreshTimer = null;
    var due = refreshDueAt(session);
    if (due === null) return;
    var delay = delayOverride !== undefined ? delayOverride : due - Date.now();
    delay = Math.min(Math.max(delay, 0), 0x7fffffff);
    refreshTimer = window.setTimeout(function () {
      refreshTimer = null;
      refreshSession();
    }, delay);
  }

  function refreshSession() {
    if (refreshing) return refreshing;
    var current = session;
    if (!current || !current.refreshToken) return Promise.resolve();
    // The refresh request deliberately carries no (possibly expired) bearer.
    refreshing = postGraphQL(REFRESH_MUTATION, { t: current.refreshToken })
      .then(function (data) {
        if (session !== current) return; // signed out or replaced meanwhile
        setSession(sessionFromPayload(data.refreshSession, current.source));
        restartSocket('Access token refreshed');
      })
      .catch(function (err) {
        if (session !== current) return;
        if (err && err.graphql) {
          setSession(null);
          restartSocket('Signed out');
          showMessage('Session ended: ' + err.message, true);
        } else {
          showMessage('Could not refresh the session (' + err.message + '); retrying.', true);
          scheduleRefresh(REFRESH_RETRY_MS);
        }
      })
      .then(function () {
        refreshing = null;
      });
    return refreshing;
  }

  /** The access token to use now, refreshed first when it is about to expire. */
  function currentAccessToken() {
    var due = refreshDueAt(session);
    var wait = due !== null && Date.now() >= due ? refreshSession() : Promise.resolve();
    return wait.then(function () {
      return session ? session.accessToken : null;
    });
  }

  // ---------------------------------------------------------------- websocket

  var activeSocket = null;
  var wsClient = null;

  if (graphqlWs && typeof graphqlWs.createClient === 'function') {
    wsClient = graphqlWs.createClient({
      url: WS_URL,
      lazy: true,
      keepAlive: 20000,
      retryAttempts: 5,
      shouldRetry: function () {
        return true;
      },
      connectionParams: function () {
        return currentAccessToken().then(function (token) {
          return token ? { authorization: 'Bearer ' + token } : undefined;
        });
      },
      on: {
        connected: function (socket) {
          activeSocket = socket;
        },
        closed: function () {
          activeSocket = null;
        }
      }
    });
  }

  /**
   * Reconnect with the current credentials. A normal closure while operations
   * are running makes graphql-ws reconnect at once and re-subscribe them; with
   * nothing running the (lazy) client simply connects afresh next time.
   */
  function restartSocket(reason) {
    var socket = activeSocket;
    if (socket && socket.readyState === window.WebSocket.OPEN) {
      socket.close(1000, reason || 'Credentials changed');
    }
  }

  // ---------------------------------------------------------------- GraphiQL

  /** fetch() for GraphiQL: adds the bearer unless the headers editor set one. */
  function authFetch(input, init) {
    return currentAccessToken().then(function (token) {
      var opts = Object.assign({}, init);
      var headers = new window.Headers((init && init.headers) || {});
      if (token && !headers.has('authorization')) headers.set('authorization', 'Bearer ' + token);
      if (!headers.has('accept')) headers.set('accept', 'application/json');
      opts.headers = headers;
      opts.credentials = 'same-origin';
      return window.fetch(input, opts);
    });
  }

  var fetcherOptions = {
    url: HTTP_URL,
    fetch: authFetch,
    enableIncrementalDelivery: false
  };
  if (wsClient) fetcherOptions.wsClient = wsClient;

  var fetcher = GraphiQL.createFetcher(fetcherOptions);

  ReactDOM.createRoot($('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      shouldPersistHeaders: false
    })
  );

  // ---------------------------------------------------------------- sign-in bar

  function renderBar() {
    var signedIn = !!session;
    ui.loginForm.hidden = signedIn;
    ui.tokenForm.hidden = signedIn;
    ui.sessionBox.hidden = !signedIn;
    if (!signedIn) {
      ui.who.textContent = '';
      return;
    }
    var p = session.principal;
    var expires = session.expiresAt || jwtExpiry(session.accessToken);
    if (p && p.name) {
      ui.who.textContent = 'Signed in as ' + p.name + (p.role ? ' (' + p.role + ')' : '');
    } else {
      ui.who.textContent = 'Using a pasted access token';
    }
    ui.who.title = expires ? 'Access token expires ' + new Date(expires).toLocaleString() : '';
    ui.signout.textContent = session.source === 'token' ? 'Forget token' : 'Sign out';
  }

  ui.loginForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    setBusy(true);
    showMessage('Signing in…');
    postGraphQL(LOGIN_MUTATION, { u: ui.username.value, p: ui.password.value })
      .then(function (data) {
        var next = sessionFromPayload(data.login, 'login');
        ui.password.value = '';
        setSession(next);
        restartSocket('Signed in');
        showMessage('');
      })
      .catch(function (err) {
        showMessage(err.message, true);
      })
      .then(function () {
        setBusy(false);
      });
  });

  ui.tokenForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var token = ui.token.value.trim().replace(/^Bearer\s+/i, '');
    if (!token) return;
    ui.token.value = '';
    setSession({
      source: 'token',
      accessToken: token,
      refreshToken: null,
      expiresAt: null,
      issuedAt: Date.now(),
      principal: null
    });
    restartSocket('Token changed');
    showMessage('');
  });

  ui.signout.addEventListener('click', function () {
    var current = session;
    if (!current) return;
    setBusy(true);
    var done =
      current.source === 'login'
        ? currentAccessToken().then(function (token) {
            return postGraphQL(LOGOUT_MUTATION, null, token);
          })
        : Promise.resolve();
    done
      .then(
        function () {
          return null;
        },
        function (err) {
          return err;
        }
      )
      .then(function (err) {
        setSession(null);
        restartSocket('Signed out');
        showMessage(err ? 'Signed out here; the server said: ' + err.message : 'Signed out.', !!err);
        setBusy(false);
      });
  });

  // Timers are throttled in background tabs: re-check when the tab comes back.
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') {
      currentAccessToken();
      scheduleRefresh();
    }
  });

  renderBar();
  scheduleRefresh();
  if (!wsClient) showMessage('graphql-ws did not load: subscriptions are unavailable.', true);
})();
