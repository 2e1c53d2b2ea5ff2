// A job's output in xterm.js, with a render budget so that a job printing 100,000 lines a second cannot
// freeze the tab.
//
// - Output is queued, and written to xterm at most FRAME_BUDGET characters per animation frame; the next
//   write waits for xterm to have parsed the previous one (its write callback), so xterm's own buffer never
//   grows without bound.
// - Drop to tail: when the queue holds more than MAX_BACKLOG characters (the job prints faster than the tab
//   can draw), the oldest queued output is dropped down to KEEP_AFTER_DROP, and one notice line in the
//   terminal says how many lines (and which seqs) were skipped; "jump to seq" reads them. When the tab
//   cannot even take the output in, job.js skips ahead on the server's side and says so here (skipped()).
// - Bounded memory: xterm keeps SCROLLBACK lines; older ones scroll out (jump to start replays them).

import { Terminal } from "../vendor/xterm/xterm.js";
import { FitAddon } from "../vendor/xterm/addon-fit.js";
import { SearchAddon } from "../vendor/xterm/addon-search.js";

export const SCROLLBACK = 10000;
export const FRAME_BUDGET = 256 * 1024;
export const MAX_BACKLOG = 4 * 1024 * 1024;
export const KEEP_AFTER_DROP = 512 * 1024;

const NOTICE = "\x1b[0m\x1b[33m";
const RESET = "\x1b[0m";

function countLines(text) {
  let n = 0;
  let i = -1;
  while ((i = text.indexOf("\n", i + 1)) !== -1) n++;
  return n;
}

// xterm's DOM renderer puts its theme and size rules in <style> elements, which this page's CSP
// (style-src 'self', no 'unsafe-inline') refuses to apply. Constructed stylesheets are not inline styles, so
// the same rules are copied into one and adopted by the document: the terminal looks as xterm meant, and no
// CSP exception is needed. (The browser still logs a CSP report for each refused <style>; that is expected.)
function mirrorStyleElements(screen) {
  const canAdopt = "adoptedStyleSheets" in Document.prototype && typeof CSSStyleSheet === "function"
    && typeof CSSStyleSheet.prototype.replaceSync === "function";
  if (!canAdopt || !screen) return () => {};
  const sheet = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  let last = "";
  const observed = new WeakSet();
  const styleObserver = new MutationObserver(sync);
  function sync() {
    const styles = screen.querySelectorAll(":scope > style");
    for (const s of styles) {
      if (!observed.has(s)) {
        observed.add(s);
        styleObserver.observe(s, { childList: true, characterData: true, subtree: true });
      }
    }
    const text = Array.from(styles, (s) => s.textContent).join("\n");
    if (text !== last) {
      last = text;
      try {
        sheet.replaceSync(text);
      } catch (err) {
        console.warn("could not mirror xterm's styles", err);
      }
    }
  }
  // New <style> elements are appended to the screen element; rows live one level down, so watching the
  // screen's own children (no subtree) costs nothing while output scrolls.
  const screenObserver = new MutationObserver(sync);
  screenObserver.observe(screen, { childList: true });
  sync();
  return () => {
    screenObserver.disconnect();
    styleObserver.disconnect();
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
  };
}

export class OutputTerminal {
  constructor(container, { onSkip, onDrained } = {}) {
    this.container = container;
    this.onSkip = onSkip || (() => {});
    this.onDrained = onDrained || (() => {});
    this.term = new Terminal({
      scrollback: SCROLLBACK,
      convertEol: true, // output has bare \n
      disableStdin: true, // typing goes to the stdin box, not here
      cursorBlink: false,
      cursorStyle: "underline",
      cursorInactiveStyle: "none",
      fontSize: 13,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace",
      theme: { background: "#0f1115", foreground: "#d6d8dc", selectionBackground: "#3a4a6b" },
    });
    this.fit = new FitAddon();
    this.search = new SearchAddon();
    this.term.loadAddon(this.fit);
    this.term.loadAddon(this.search);
    this.term.open(container);
    this.unmirror = mirrorStyleElements(container.querySelector(".xterm-screen"));
    this.follow = true;
    this.queue = []; // [{text, seq}]
    this.queued = 0; // characters in queue
    this.writing = false;
    this.frame = 0;
    this.disposed = false;
    this.generation = 0; // bumped by reset(): a write callback of an older generation is ignored
    this.stats = { written: 0, writes: 0, skippedLines: 0, skippedChars: 0, skippedEvents: 0, unreceivedEvents: 0, skips: [] };
    this.resizeObserver = new ResizeObserver(() => this._scheduleFit());
    this.resizeObserver.observe(container);
    this._scheduleFit();
  }

  _scheduleFit() {
    if (this.fitFrame || this.disposed) return;
    this.fitFrame = requestAnimationFrame(() => {
      this.fitFrame = 0;
      if (this.disposed || !this.container.offsetParent) return; // hidden: keep the size it has
      try {
        this.fit.fit();
      } catch {
        // not measurable yet (no layout): the next resize fits it
      }
    });
  }

  // Queue output; `seq` is the event's seq (for the skip notice).
  push(text, seq) {
    if (this.disposed || !text) return;
    this.queue.push({ text, seq });
    this.queued += text.length;
    if (this.queued > MAX_BACKLOG) this._dropToTail();
    this._schedule();
  }

  // A line of ours (yellow), not the job's output.
  notice(text) {
    this.push(`${NOTICE}[${text}]${RESET}\r\n`, null);
  }

  _dropToTail() {
    let lines = 0;
    let chars = 0;
    let fromSeq = null;
    let toSeq = null;
    while (this.queue.length > 1 && this.queued > KEEP_AFTER_DROP) {
      const item = this.queue.shift();
      this.queued -= item.text.length;
      if (item.seq === null) continue; // an older notice of ours
      lines += countLines(item.text);
      chars += item.text.length;
      if (fromSeq === null) fromSeq = item.seq;
      toSeq = item.seq;
    }
    if (fromSeq === null) return;
    this._noteSkip({ lines, chars, fromSeq, toSeq }, true);
  }

  // Output the page never received: it skipped seqs fromSeq..toSeq (about `chars` characters) on the server's
  // side to keep up with the job (job.js, keepUp). Said like a drop from the queue.
  skipped(fromSeq, toSeq, chars) {
    if (toSeq < fromSeq) return;
    this._noteSkip({ lines: null, chars, fromSeq, toSeq }, false);
  }

  _noteSkip(skip, first) {
    if (skip.lines !== null) this.stats.skippedLines += skip.lines;
    this.stats.skippedChars += skip.chars;
    this.stats.skippedEvents += skip.toSeq - skip.fromSeq + 1;
    // Dropped from the queue (``first``): received, not drawn. Skipped on the server's side: never received.
    if (!first) this.stats.unreceivedEvents += skip.toSeq - skip.fromSeq + 1;
    this.stats.skips.push(skip);
    if (this.stats.skips.length > 100) this.stats.skips.shift();
    const what = skip.lines !== null ? `${skip.lines} lines` : `about ${skip.chars} characters`;
    const text = `${NOTICE}[\u2026 ${what} skipped (seq ${skip.fromSeq}\u2013${skip.toSeq}) to keep up with the job;`
      + ` "jump to seq ${skip.fromSeq}" reads them]${RESET}\r\n`;
    if (first) this.queue.unshift({ text, seq: null });
    else this.queue.push({ text, seq: null });
    this.queued += text.length;
    this._schedule();
    this.onSkip(skip, this.stats);
  }

  _schedule() {
    if (!this.frame && !this.writing && !this.disposed && this.queue.length) {
      this.frame = requestAnimationFrame(() => this._pump());
    }
  }

  _pump() {
    this.frame = 0;
    if (this.writing || this.disposed || !this.queue.length) return;
    const parts = [];
    let size = 0;
    while (this.queue.length && size < FRAME_BUDGET) {
      const item = this.queue.shift();
      parts.push(item.text);
      size += item.text.length;
    }
    this.queued -= size;
    const chunk = parts.join("");
    const gen = this.generation;
    this.writing = true;
    this.term.write(chunk, () => {
      if (gen !== this.generation || this.disposed) return;
      this.writing = false;
      this.stats.written += chunk.length;
      this.stats.writes++;
      if (this.follow) this.term.scrollToBottom();
      if (this.queue.length) this._schedule();
      else this.onDrained();
    });
  }

  get backlog() {
    return this.queued;
  }

  get idle() {
    return !this.writing && this.queue.length === 0;
  }

  setFollow(on) {
    this.follow = on;
    if (on) this.term.scrollToBottom();
  }

  // Empty the terminal and the queue (jump to start / to a seq, or another stream filter).
  reset() {
    this.generation++;
    this.queue = [];
    this.queued = 0;
    this.writing = false;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.term.reset();
    this.stats = { written: 0, writes: 0, skippedLines: 0, skippedChars: 0, skippedEvents: 0, unreceivedEvents: 0, skips: [] };
  }

  find(text, backwards) {
    if (!text) return false;
    const opts = { caseSensitive: false, incremental: false };
    return backwards ? this.search.findPrevious(text, opts) : this.search.findNext(text, opts);
  }

  clearSearch() {
    this.search.clearDecorations?.();
    this.term.clearSelection();
  }

  // The terminal's text, one string per buffer line (for tests and "copy all").
  lines() {
    const buf = this.term.buffer.active;
    const out = [];
    for (let i = 0; i < buf.length; i++) {
      const line = buf.getLine(i);
      if (!line) continue;
      if (line.isWrapped && out.length) out[out.length - 1] += line.translateToString(true);
      else out.push(line.translateToString(true));
    }
    while (out.length && out[out.length - 1] === "") out.pop();
    return out;
  }

  dispose() {
    this.disposed = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    if (this.fitFrame) cancelAnimationFrame(this.fitFrame);
    this.resizeObserver.disconnect();
    this.unmirror();
    this.term.dispose();
    this.queue = [];
  }
}
