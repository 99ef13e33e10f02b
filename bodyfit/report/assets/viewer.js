/* bodyfit report: a small 3D viewer (WebGL2, with a canvas 2D fallback) and the loader of
   the per-person data scripts in report_data/ (classic scripts: a page opened from disk may
   load those, but may not fetch files). */
"use strict";

const bodyfitStore = { faces: {}, meshes: {}, loading: {} };

window.bodyfitReport = {
  faces(name, base64) { bodyfitStore.faces[name] = new Uint32Array(decodeBase64(base64)); },
  mesh(key, data) { bodyfitStore.meshes[key] = data; },
};

function decodeBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function loadScript(src) {
  if (!bodyfitStore.loading[src]) {
    bodyfitStore.loading[src] = new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = () => { delete bodyfitStore.loading[src]; reject(new Error("cannot load " + src)); };
      document.head.appendChild(tag);
    });
  }
  return bodyfitStore.loading[src];
}

/* A mesh in the viewer's frame (x right, y up, z towards the viewer; the camera frame's y
   and z flipped), centred; normals per vertex, pointing out. */
function buildMesh(data, faces) {
  const q = new Uint16Array(decodeBase64(data.q));
  const count = q.length / 3;
  const positions = new Float32Array(q.length);
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  const sign = [1, -1, -1];
  for (let i = 0; i < count; i++) {
    for (let a = 0; a < 3; a++) {
      const v = sign[a] * (data.lo[a] + q[3 * i + a] * data.step[a]);
      positions[3 * i + a] = v;
      if (v < lo[a]) lo[a] = v;
      if (v > hi[a]) hi[a] = v;
    }
  }
  const center = [0, 1, 2].map(a => (lo[a] + hi[a]) / 2);
  let radius = 0;
  for (let i = 0; i < count; i++) {
    for (let a = 0; a < 3; a++) positions[3 * i + a] -= center[a];
    radius = Math.max(radius, Math.hypot(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]));
  }
  return { positions, normals: vertexNormals(positions, faces), faces, radius };
}

function vertexNormals(p, faces) {
  const n = new Float32Array(p.length);
  for (let f = 0; f < faces.length; f += 3) {
    const a = 3 * faces[f], b = 3 * faces[f + 1], c = 3 * faces[f + 2];
    const ux = p[b] - p[a], uy = p[b + 1] - p[a + 1], uz = p[b + 2] - p[a + 2];
    const vx = p[c] - p[a], vy = p[c + 1] - p[a + 1], vz = p[c + 2] - p[a + 2];
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    for (const i of [a, b, c]) { n[i] += nx; n[i + 1] += ny; n[i + 2] += nz; }
  }
  let outward = 0;  // the winding decides where normals point: make them point out
  for (let i = 0; i < p.length; i += 3) outward += n[i] * p[i] + n[i + 1] * p[i + 1] + n[i + 2] * p[i + 2];
  const flip = outward < 0 ? -1 : 1;
  for (let i = 0; i < n.length; i += 3) {
    const length = Math.hypot(n[i], n[i + 1], n[i + 2]) || 1;
    n[i] *= flip / length; n[i + 1] *= flip / length; n[i + 2] *= flip / length;
  }
  return n;
}

/* Column-major 4x4 matrices. */
const mat4 = {
  multiply(a, b) {
    const out = new Float32Array(16);
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      out[c * 4 + r] = s;
    }
    return out;
  },
  perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), out = new Float32Array(16);
    out[0] = f / aspect; out[5] = f; out[10] = (far + near) / (near - far); out[11] = -1;
    out[14] = 2 * far * near / (near - far);
    return out;
  },
  /* rotation about x by pitch after rotation about y by yaw, then a shift by -distance in z */
  orbit(yaw, pitch, distance) {
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    return new Float32Array([cy, sp * sy, -cp * sy, 0, 0, cp, sp, 0, sy, -sp * cy, cp * cy, 0, 0, 0, -distance, 1]);
  },
};

const FOV = 0.6;

function glRenderer(canvas) {
  const gl = canvas.getContext("webgl2", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) return null;
  const shader = (type, source) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, source);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  };
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, `#version 300 es
    in vec3 position; in vec3 normal; uniform mat4 mvp; uniform mat4 model; out vec3 n;
    void main() { n = mat3(model) * normal; gl_Position = mvp * vec4(position, 1.0); }`));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, `#version 300 es
    precision mediump float; in vec3 n; uniform vec3 color; out vec4 outColor;
    void main() {
      vec3 N = normalize(n);
      float key = max(dot(N, normalize(vec3(0.35, 0.55, 1.0))), 0.0);
      float fill = max(dot(N, normalize(vec3(-0.7, 0.1, 0.4))), 0.0);
      float rim = pow(1.0 - max(N.z, 0.0), 3.0);
      outColor = vec4(color * (0.22 + 0.72 * key + 0.18 * fill) + 0.18 * rim, 1.0);
    }`));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  const where = name => gl.getUniformLocation(program, name);
  const buffers = { position: gl.createBuffer(), normal: gl.createBuffer(), index: gl.createBuffer() };
  let indexCount = 0;
  return {
    name: "webgl2",
    setMesh(mesh) {
      for (const name of ["position", "normal"]) {
        gl.bindBuffer(gl.ARRAY_BUFFER, buffers[name]);
        gl.bufferData(gl.ARRAY_BUFFER, name === "position" ? mesh.positions : mesh.normals, gl.STATIC_DRAW);
        const location = gl.getAttribLocation(program, name);
        gl.enableVertexAttribArray(location);
        gl.vertexAttribPointer(location, 3, gl.FLOAT, false, 0, 0);
      }
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buffers.index);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, mesh.faces, gl.STATIC_DRAW);
      indexCount = mesh.faces.length;
    },
    draw(model, projection, color) {
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(0, 0, 0, 0);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.enable(gl.DEPTH_TEST);
      gl.useProgram(program);
      gl.uniformMatrix4fv(where("mvp"), false, mat4.multiply(projection, model));
      gl.uniformMatrix4fv(where("model"), false, model);
      gl.uniform3fv(where("color"), color);
      gl.drawElements(gl.TRIANGLES, indexCount, gl.UNSIGNED_INT, 0);
    },
    clear() { gl.clearColor(0, 0, 0, 0); gl.clear(gl.COLOR_BUFFER_BIT); },
    coveredPixels() { return coveredPixels(canvas); },
  };
}

/* How many pixels of ``canvas`` were drawn on, counted on a copy at most 200 px wide (a
   copy, not gl.readPixels, which stalls the GPU and says so in the console). */
function coveredPixels(canvas) {
  const scale = Math.min(1, 200 / canvas.width);
  const copy = document.createElement("canvas");
  copy.width = Math.round(canvas.width * scale); copy.height = Math.round(canvas.height * scale);
  const ctx = copy.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(canvas, 0, 0, copy.width, copy.height);
  const pixels = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let covered = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) covered++;
  return Math.round(covered / scale / scale);
}

/* Painter's algorithm over the front-facing triangles: slower, but needs no GPU. */
function canvasRenderer(canvas) {
  const ctx = canvas.getContext("2d");
  let mesh = null;
  return {
    name: "canvas2d",
    setMesh(m) { mesh = m; },
    draw(model, projection, color) {
      const w = canvas.width, h = canvas.height, p = mesh.positions, count = p.length / 3;
      const view = new Float32Array(p.length), screen = new Float32Array(2 * count);
      for (let i = 0; i < count; i++) {
        const x = p[3 * i], y = p[3 * i + 1], z = p[3 * i + 2];
        for (let r = 0; r < 3; r++) view[3 * i + r] = model[r] * x + model[4 + r] * y + model[8 + r] * z + model[12 + r];
        const depth = -view[3 * i + 2];
        screen[2 * i] = w / 2 + projection[0] * view[3 * i] / depth * w / 2;
        screen[2 * i + 1] = h / 2 - projection[5] * view[3 * i + 1] / depth * h / 2;
      }
      const f = mesh.faces, visible = [], depths = [], shades = [];
      for (let t = 0; t < f.length; t += 3) {
        const a = 3 * f[t], b = 3 * f[t + 1], c = 3 * f[t + 2];
        let nx = 0, ny = 0, nz = 0;
        for (const i of [a, b, c]) { nx += mesh.normals[i]; ny += mesh.normals[i + 1]; nz += mesh.normals[i + 2]; }
        const vx = model[0] * nx + model[4] * ny + model[8] * nz, vy = model[1] * nx + model[5] * ny + model[9] * nz;
        const vz = model[2] * nx + model[6] * ny + model[10] * nz;
        const cx = view[a] + view[b] + view[c], cy = view[a + 1] + view[b + 1] + view[c + 1];
        const cz = view[a + 2] + view[b + 2] + view[c + 2];
        if (vx * cx + vy * cy + vz * cz >= 0) continue;  // faces away from the eye
        const length = Math.hypot(vx, vy, vz) || 1;
        visible.push(t); depths.push(cz);
        shades.push(0.22 + 0.72 * Math.max((0.35 * vx + 0.55 * vy + vz) / (1.2 * length), 0));
      }
      const order = visible.map((_, i) => i).sort((i, j) => depths[i] - depths[j]);
      ctx.clearRect(0, 0, w, h);
      for (const i of order) {
        const t = visible[i], s = shades[i];
        ctx.fillStyle = `rgb(${Math.min(255, color[0] * s * 255) | 0},${Math.min(255, color[1] * s * 255) | 0},` +
          `${Math.min(255, color[2] * s * 255) | 0})`;
        ctx.beginPath();
        ctx.moveTo(screen[2 * f[t]], screen[2 * f[t] + 1]);
        ctx.lineTo(screen[2 * f[t + 1]], screen[2 * f[t + 1] + 1]);
        ctx.lineTo(screen[2 * f[t + 2]], screen[2 * f[t + 2] + 1]);
        ctx.closePath();
        ctx.fill();
        ctx.strokeStyle = ctx.fillStyle;  // hides the seams between triangles
        ctx.stroke();
      }
    },
    clear() { ctx.clearRect(0, 0, canvas.width, canvas.height); },
    coveredPixels() { return coveredPixels(canvas); },
  };
}

/* The viewer on ``canvas``: orbit by dragging, zoom by the wheel, reset by double-click. */
function makeViewer(canvas, forceCanvas) {
  const renderer = (!forceCanvas && glRenderer(canvas)) || canvasRenderer(canvas);
  const state = { mesh: null, color: [0.6, 0.7, 0.9], yaw: 0, pitch: 0, distance: 3, frame: 0 };
  const home = () => { state.yaw = 0; state.pitch = 0; state.distance = state.mesh ? state.mesh.radius / Math.tan(FOV / 2) * 1.08 : 3; };
  const draw = () => {
    state.frame = 0;
    if (!state.mesh) return;
    const model = mat4.orbit(state.yaw, state.pitch, state.distance);
    const near = Math.max(state.distance - state.mesh.radius * 2, 0.01);
    renderer.draw(model, mat4.perspective(FOV, canvas.width / canvas.height, near, state.distance + state.mesh.radius * 2), state.color);
  };
  const redraw = () => { if (!state.frame) state.frame = requestAnimationFrame(draw); };
  let drag = null;
  canvas.addEventListener("pointerdown", e => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("pointermove", e => {
    if (!drag) return;
    state.yaw += (e.clientX - drag[0]) * 0.01;
    state.pitch = Math.max(-1.5, Math.min(1.5, state.pitch + (e.clientY - drag[1]) * 0.01));
    drag = [e.clientX, e.clientY];
    redraw();
  });
  canvas.addEventListener("wheel", e => {
    if (!state.mesh) return;
    e.preventDefault();
    const r = state.mesh.radius;
    state.distance = Math.max(r * 0.6, Math.min(r * 20, state.distance * Math.exp(e.deltaY * 0.001)));
    redraw();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { home(); redraw(); });
  return {
    renderer: renderer.name,
    show(mesh, color) {
      state.mesh = mesh; state.color = color;
      renderer.setMesh(mesh); home(); draw();
      return renderer.coveredPixels();
    },
    clear() { state.mesh = null; renderer.clear(); },
    reset() { home(); redraw(); },
  };
}
