// LocalSynth main-thread script: loading progress, the Pyodide worker, and the BokehJS <-> worker document sync.
//
// The Python side of the Panel app lives in worker.js; this thread only renders (BokehJS + Panel's JS) and
// forwards user events as JSON patches, like Panel's own pyodide-worker handler. Nothing here talks to the
// network: the worker and every script come from this origin (see the Content-Security-Policy in index.html).
"use strict";

(function () {
  const LS = (window.LocalSynth = {
    t0: performance.now(),
    ready: false,
    readyMs: null,
    timings: null,
    stages: [],
    cspViolations: [],
    errors: [],
  });

  document.addEventListener("securitypolicyviolation", (e) => {
    LS.cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile});
    console.error("CSP violation", e.violatedDirective, e.blockedURI);
  });

  const loader = document.getElementById("ls-loader");
  const bar = document.getElementById("ls-loader-bar");
  const stageLabel = document.getElementById("ls-loader-stage");
  const stageList = document.getElementById("ls-loader-steps");
  const elapsed = document.getElementById("ls-loader-elapsed");
  const errorBox = document.getElementById("ls-loader-error");
  const appRoot = document.getElementById("ls-app");

  const timer = setInterval(() => {
    elapsed.textContent = `${((performance.now() - LS.t0) / 1000).toFixed(1)} s`;
  }, 200);

  function showStage(msg) {
    LS.stages.push({key: msg.key, label: msg.label, at: performance.now() - LS.t0});
    bar.value = Math.max(bar.value, msg.fraction);
    stageLabel.textContent = msg.label + "…";
    for (const li of stageList.querySelectorAll("li.active")) {
      li.classList.remove("active");
      li.classList.add("done");
    }
    const li = document.createElement("li");
    li.className = "active";
    li.textContent = msg.label;
    stageList.appendChild(li);
  }

  function showFatal(message, detail) {
    clearInterval(timer);
    LS.errors.push(message);
    loader.classList.add("failed");
    stageLabel.textContent = "LocalSynth could not start.";
    errorBox.hidden = false;
    errorBox.textContent =
      `${message}\n\nReload the page to try again. If it keeps failing, rebuild the bundle ` +
      "(localsynth build-web) and serve it with localsynth serve.";
    if (detail) console.error(detail);
  }

  if (typeof Worker === "undefined" || typeof WebAssembly === "undefined") {
    showFatal("This browser cannot run LocalSynth: it needs Web Workers and WebAssembly.");
    return;
  }

  const worker = new Worker("./worker.js");
  LS.worker = worker;
  worker.busy = false;
  worker.queue = [];
  let patching = 0;

  // Changes made in the page travel to the worker as JSON patches, one batch at a time. Changes made together
  // (one widget setting several properties, e.g. a file's bytes and its name) go in one batch; while the worker
  // is busy they wait in `queue`, in order: a newer value of a property replaces its queued value (unless an
  // action such as a button click came in between, so the action still sees the values typed before it).
  let flushScheduled = false;
  function flush() {
    flushScheduled = false;
    if (worker.busy || !worker.queue.length) return;
    const events = worker.queue;
    worker.queue = [];
    postEvents(events);
  }

  function sendChange(event) {
    if ((event.setter_id != null && event.setter_id === "py") || patching > 0) return;
    if (!worker.busy && !flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flush);
    }
    if (event.model && event.attr) {
      for (let i = worker.queue.length - 1; i >= 0; i--) {
        const old = worker.queue[i];
        if (!old.attr) break;
        if (old.model === event.model && old.attr === event.attr) {
          worker.queue.splice(i, 1);
          break;
        }
      }
    }
    worker.queue.push(event);
  }

  function postEvents(events) {
    worker.busy = true;
    worker.postMessage({type: "patch", patch: worker.jsdoc.create_json_patch(events)});
  }

  // A patch from the worker was computed before it saw the changes still waiting in the queue: the user's newer
  // values win, so put them back on the properties the patch overwrote (they reach the worker with the queue).
  function reassertQueued(patch) {
    if (!worker.queue.length || !patch || !patch.events) return;
    const touched = new Set();
    for (const ev of patch.events) {
      if (ev.kind === "ModelChanged" && ev.model) touched.add(`${ev.model.id}\u0000${ev.attr}`);
    }
    for (const ev of worker.queue) {
      if (ev.attr && touched.has(`${ev.model.id}\u0000${ev.attr}`)) ev.model.setv({[ev.attr]: ev.value});
    }
  }

  // Buttons whose whole effect is on other widgets of the page are answered here, at once, instead of by a round
  // trip through a possibly busy worker (a click on a checkbox right after "None" must see the boxes cleared).
  // The resulting widget change reaches Python like any other change. Under `panel serve` Python handles them.
  const LOCAL_ACTIONS = {
    "ls-columns-all": ["ls-columns", (m) => ({active: m.labels.map((_, i) => i)})],
    "ls-columns-none": ["ls-columns", (m) => ({active: []})],
  };
  function findModel(cssClass) {
    for (const m of worker.jsdoc.all_models) {
      if (Array.isArray(m.css_classes) && m.css_classes.includes(cssClass)) return m;
    }
    return null;
  }
  // HTML drawn by Python can carry an action: a click on <… data-ls-action="CSS" data-ls-value="…"> sets the
  // value of the hidden text input with that CSS class (with a counter, so a repeated click is a new value);
  // Python watches that input (the Explore page's selection chips use this).
  let actionCount = 0;
  document.addEventListener("click", (e) => {
    if (!worker.jsdoc) return;
    for (const el of e.composedPath()) {
      if (el.dataset && el.dataset.lsAction) {
        const model = findModel(el.dataset.lsAction);
        if (!model) return;
        actionCount += 1;
        model.setv({value: JSON.stringify([actionCount, el.dataset.lsValue])});
        return;
      }
      const action = el.classList && Object.keys(LOCAL_ACTIONS).find((c) => el.classList.contains(c));
      if (action) {
        const [target, values] = LOCAL_ACTIONS[action];
        const model = findModel(target);
        if (!model) return;
        e.stopPropagation();
        e.preventDefault();
        model.setv(values(model));
        return;
      }
    }
  }, true);

  const evalWaiters = new Map();
  let evalId = 0;
  // Benchmark/test hook: run Python in the worker (the same interpreter as the app) and get its result.
  LS.evalPython = (code, data) =>
    new Promise((resolve, reject) => {
      const id = ++evalId;
      evalWaiters.set(id, {resolve, reject});
      worker.postMessage({type: "eval", id: id, code: code, data: data});
    });

  async function render(msg) {
    const docsJson = JSON.parse(msg.docs_json);
    const renderItems = JSON.parse(msg.render_items);
    const rootIds = JSON.parse(msg.root_ids);
    const roots = {};
    appRoot.innerHTML = "";
    rootIds.forEach((rid, i) => {
      const el = document.createElement("div");
      el.id = `ls-root-${i}`;
      el.style.display = "contents";
      appRoot.appendChild(el);
      roots[rid] = el.id;
    });
    renderItems[0].roots = roots;
    renderItems[0].root_ids = rootIds;
    const [views] = await Bokeh.embed.embed_items(docsJson, renderItems);
    const jsdoc = [...views.roots.values()][0].model.document;
    worker.jsdoc = jsdoc;
    jsdoc.on_change(sendChange, false);
    worker.postMessage({type: "rendered"});
    LS.timings = msg.timings;
  }

  function markReady() {
    clearInterval(timer);
    bar.value = 1;
    loader.hidden = true;
    appRoot.hidden = false;
    LS.ready = true;
    LS.readyMs = performance.now() - LS.t0;
    LS.readyAt = performance.now(); // since navigation start
    document.body.dataset.lsReady = "true";
    console.log(`LocalSynth ready in ${(LS.readyMs / 1000).toFixed(2)} s`, LS.timings);
    registerServiceWorker();
  }

  function registerServiceWorker() {
    // Offline after the first visit: the service worker precaches the bundle listed in manifest.json.
    if (!("serviceWorker" in navigator) || new URLSearchParams(location.search).has("nosw")) return;
    navigator.serviceWorker.register("./sw.js").then(
      (reg) => { LS.serviceWorker = "registered"; },
      (err) => { LS.serviceWorker = `failed: ${err}`; },
    );
  }

  worker.onmessage = async (event) => {
    const msg = event.data;
    if (msg.type === "idle") {
      worker.busy = false;
      flush();
    } else if (msg.type === "patch") {
      try {
        patching += 1;
        worker.jsdoc.apply_json_patch(msg.patch, msg.buffers);
        reassertQueued(msg.patch);
      } finally {
        patching -= 1;
      }
    } else if (msg.type === "stage") {
      showStage(msg);
    } else if (msg.type === "render") {
      try {
        await render(msg);
      } catch (e) {
        showFatal(`Could not draw the page: ${e}`);
      }
    } else if (msg.type === "ready") {
      markReady();
    } else if (msg.type === "fatal") {
      showFatal(msg.message, msg.detail);
    } else if (msg.type === "error") {
      // An unexpected Python error while handling an event: say so instead of failing silently.
      LS.errors.push(msg.message);
      const banner = document.getElementById("ls-worker-error");
      banner.hidden = false;
      banner.textContent = `Something went wrong inside the app (${msg.message}). Reload the page to start again.`;
    } else if (msg.type === "eval-result") {
      const w = evalWaiters.get(msg.id);
      evalWaiters.delete(msg.id);
      if (!w) return;
      if (msg.error) w.reject(new Error(msg.error));
      else w.resolve(JSON.parse(msg.result));
    }
  };
  worker.onerror = (e) => showFatal(`The background worker failed: ${e.message || e}`);
  worker.postMessage({type: "init"});
})();
