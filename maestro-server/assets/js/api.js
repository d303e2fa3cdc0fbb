// REST client. Same origin, cookie auth (the HttpOnly `maestro_auth` cookie set by /api/login).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
  }
}

/** Calls the API; resolves with the JSON body (or null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `Cannot reach the server (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(resp.status, err.code, err.message || text || resp.statusText);
    if (resp.status === 401 && !path.startsWith('/api/login') && !path.startsWith('/api/me')) {
      window.dispatchEvent(new CustomEvent('maestro:unauthorized'));
    }
    throw e;
  }
  return data;
}

const enc = encodeURIComponent;

export const Api = {
  me: () => api('GET', '/api/me'),
  login: (token) => api('POST', '/api/login', { token }),
  logout: () => api('POST', '/api/logout'),
  latestSeq: async () => {
    const r = await fetch('/healthz', { credentials: 'same-origin' });
    const j = await r.json();
    return j && j.store && typeof j.store.latest_seq === 'number' ? j.store.latest_seq : null;
  },
  tasks: () => api('GET', '/api/tasks'),
  task: (id) => api('GET', `/api/tasks/${enc(id)}`),
  createTask: (input) => api('POST', '/api/tasks', input),
  updateTask: (id, input) => api('PATCH', `/api/tasks/${enc(id)}`, input),
  deleteTask: (id) => api('DELETE', `/api/tasks/${enc(id)}`),
  taskTimeline: (id, limit = 100000) => api('GET', `/api/tasks/${enc(id)}/timeline?limit=${limit}`),
  taskMetrics: (id) => api('GET', `/api/tasks/${enc(id)}/metrics`),
  taskErrors: (id) => api('GET', `/api/tasks/${enc(id)}/errors`),
  startSession: (id, body) => api('POST', `/api/tasks/${enc(id)}/sessions`, body),
  sessions: (query = '') => api('GET', `/api/sessions${query}`),
  session: (id) => api('GET', `/api/sessions/${enc(id)}`),
  attachSession: (id, taskId) => api('PATCH', `/api/sessions/${enc(id)}`, { task_id: taskId }),
  stopSession: (id) => api('POST', `/api/sessions/${enc(id)}/stop`),
  sessionTimeline: (id, limit = 100000) => api('GET', `/api/sessions/${enc(id)}/timeline?limit=${limit}`),
  sessionMetrics: (id) => api('GET', `/api/sessions/${enc(id)}/metrics`),
  sessionErrors: (id) => api('GET', `/api/sessions/${enc(id)}/errors`),
  sessionCost: (id) => api('GET', `/api/sessions/${enc(id)}/cost`),
  taskCost: (id) => api('GET', `/api/tasks/${enc(id)}/cost`),
  taskCosts: () => api('GET', '/api/cost/tasks'),
  sessionToolTelemetry: (id) => api('GET', `/api/sessions/${enc(id)}/tool-telemetry`),
  taskToolTelemetry: (id) => api('GET', `/api/tasks/${enc(id)}/tool-telemetry`),
  event: (eventId) => api('GET', `/api/events/${enc(eventId)}`),
  pendingApprovals: () => api('GET', '/api/approvals?status=pending'),
  decide: (id, decision, reason) =>
    api('POST', `/api/approvals/${enc(id)}`, reason ? { decision, reason } : { decision }),
};
