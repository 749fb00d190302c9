// rpc.js — JSON-RPC to byold over the dashboard's WebSocket (/api/ws): calls
// answered by id, job.event notifications routed to their subscription.

export class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data; // {field, reason} for invalid params
  }
}

export class Rpc {
  constructor(csrf, onState) {
    this.csrf = csrf;
    this.onState = onState; // "up" | "down"
    this.nextId = 1;
    this.pending = new Map();
    this.subs = new Map(); // subscription → callback
    this.early = new Map(); // events of a subscription not yet registered
    this.queue = [];
    this.closed = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/ws?csrf=${encodeURIComponent(this.csrf)}`;
    this.ws = new WebSocket(url, "byol-rpc");
    this.ws.onopen = () => {
      this.onState("up");
      for (const m of this.queue) this.ws.send(m);
      this.queue = [];
    };
    this.ws.onmessage = (ev) => this.receive(ev.data);
    this.ws.onclose = () => this.lost();
  }

  lost() {
    for (const { reject } of this.pending.values()) reject(new Error("connection to byold lost"));
    this.pending.clear();
    const ended = [...this.subs.values()];
    this.subs.clear();
    this.early.clear();
    for (const cb of ended) cb({ event: "lost" });
    if (this.closed) return;
    this.onState("down");
    setTimeout(() => this.connect(), 2000);
  }

  close() {
    this.closed = true;
    this.ws.close();
  }

  receive(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.method === "job.event" && m.params) {
      const sub = m.params.subscription;
      const cb = this.subs.get(sub);
      if (cb) cb(m.params);
      else {
        if (!this.early.has(sub)) this.early.set(sub, []);
        this.early.get(sub).push(m.params);
      }
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error) p.reject(new RpcError(m.error));
    else p.resolve(m.result);
  }

  call(method, params) {
    const id = this.nextId++;
    const msg = JSON.stringify({ jsonrpc: "2.0", id, method, params: params || {} });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(msg);
      else this.queue.push(msg);
    });
  }

  // Live events of a job after sinceStep; returns a function that ends them.
  async subscribe(jobId, sinceStep, onEvent) {
    const { subscription } = await this.call("job.subscribe", {
      job_id: jobId,
      since_step: sinceStep,
    });
    this.subs.set(subscription, onEvent);
    for (const ev of this.early.get(subscription) || []) onEvent(ev);
    this.early.delete(subscription);
    return () => {
      if (!this.subs.delete(subscription)) return;
      this.call("job.unsubscribe", { subscription }).catch(() => {});
    };
  }
}
