// consentgate: the tutor pages' progressive enhancement (the upload page, and the page that
// changes a photo's details). Served from our own origin only (the Content-Security-Policy allows
// no inline script). Uploads go to the JSON API with the session cookie and this page's CSRF token;
// the original filename is never sent.
"use strict";

// Copy buttons (the marketing page): the text of the field a button names, to the clipboard. Without
// script the fields stay selectable.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field || !navigator.clipboard) return;
  navigator.clipboard.writeText(field.value).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

(function () {
  const root = document.getElementById("upload") || document.getElementById("photo-edit");
  if (!root) return;
  const csrf = root.dataset.csrf;

  function api(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    }).then((r) => (r.ok ? r.json() : []));
  }

  // Tags typed in one field, separated by commas, as the server splits them.
  function tagList(text) {
    return text.split(",").map((t) => t.trim()).filter((t) => t !== "");
  }

  // The learner picker: matching learners as buttons. `tag(id, label)` is called with the one
  // chosen: the upload page keeps them in the card's state, the edit page adds a ticked checkbox.
  function picker(card, tag) {
    const search = card.querySelector("input[name=learner_search]");
    const suggestions = card.querySelector(".suggestions");
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const q = search.value.trim();
        if (q.length < 2) { suggestions.replaceChildren(); return; }
        api("/tutor/learners", { q }).then((found) => {
          suggestions.replaceChildren();
          for (const learner of found) {
            const li = document.createElement("li");
            const b = document.createElement("button");
            b.type = "button";
            // A plain list of buttons: each is announced as "Amira K., button" and tags on press
            // (a listbox would need arrow-key handling and options that are not buttons).
            b.textContent = learner.label;
            b.addEventListener("click", () => {
              tag(learner.id, learner.label);
              suggestions.replaceChildren();
              search.value = "";
              search.focus();
            });
            li.append(b);
            suggestions.append(li);
          }
        });
      }, 200);
    });
  }

  // The upload page's tagged learners: a chip each, with a 44 px remove button.
  function chips(card, learners) {
    const chosen = card.querySelector(".chosen");
    function render() {
      chosen.replaceChildren();
      for (const [id, label] of learners) {
        const li = document.createElement("li");
        li.append(label);
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.setAttribute("aria-label", "Remove " + label);
        remove.addEventListener("click", () => { learners.delete(id); render(); });
        li.append(remove);
        chosen.append(li);
      }
    }
    return (id, label) => { learners.set(id, label); render(); };
  }

  // The edit page's tagged learners: a ticked checkbox each, posted with the form (unticking one
  // untags them, with or without this script).
  function checks(form) {
    const list = form.querySelector(".chosen-checks");
    return (id, label) => {
      const existing = Array.from(list.querySelectorAll("input[name=learner_ids]")).find((c) => c.value === id);
      if (existing) { existing.checked = true; return; }
      const li = document.createElement("li");
      const l = document.createElement("label");
      l.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "learner_ids";
      box.value = id;
      box.checked = true;
      l.append(box, " " + label);
      li.append(l);
      list.append(li);
    };
  }

  // The name check as the tutor types: which texts name a learner in full, and the texts with first
  // names only, offered with one tap. Nothing is stored; the server checks again when it is saved.
  function nameCheck(card) {
    const fields = { caption: "caption", alt_text: "alt text", title: "title", tags: "tags" };
    const box = card.querySelector(".namecheck");
    const field = (name) => card.querySelector("input[name=" + name + "]");
    let timer = null;
    let asked = 0;
    function check() {
      const texts = {};
      for (const name of Object.keys(fields)) {
        if (!field(name)) continue;
        texts[name] = name === "tags" ? tagList(field(name).value) : field(name).value;
      }
      const mine = ++asked;
      fetch("/api/v1/name-check", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(texts),
      }).then((r) => (r.ok ? r.json() : null)).then((found) => {
        // An older answer arriving after a newer one is not shown.
        if (mine !== asked) return;
        box.replaceChildren();
        if (!found || found.matches.length === 0) return;
        // "tags[2]", and "tags" for a name split across tags, are both the tags field.
        const fieldOf = (m) => (m.field.startsWith("tags") ? "tags" : m.field);
        const named = [];
        for (const m of found.matches) {
          const words = fields[fieldOf(m)];
          if (words && !named.includes(words)) named.push(words);
        }
        const first = found.matches.find((m) => fieldOf(m) !== "tags");
        const p = document.createElement("p");
        p.className = "error";
        p.textContent = "The " + named.join(" and ") + (named.length > 1 ? " name" : " names") +
          " a learner in full." + (first ? " Use \u201c" + found.suggested_redaction[first.field] + "\u201d?" : "");
        const use = document.createElement("button");
        use.type = "button";
        use.textContent = "Use first names only";
        use.addEventListener("click", () => {
          for (const name of Object.keys(fields)) {
            if (!field(name)) continue;
            const redacted = found.suggested_redaction[name];
            field(name).value = name === "tags" ? redacted.join(", ") : redacted;
          }
          box.replaceChildren();
        });
        box.append(p, use);
      });
    }
    for (const name of Object.keys(fields)) {
      if (!field(name)) continue;
      field(name).addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(check, 400);
      });
    }
  }

  // The page that changes a photo's details: a plain form, with the picker and the name check.
  if (root.id === "photo-edit") {
    picker(root, checks(root));
    nameCheck(root);
    return;
  }

  const input = document.getElementById("files");
  const cards = document.getElementById("cards");
  const template = document.getElementById("card-template");
  const send = document.getElementById("send");
  const pending = [];

  input.addEventListener("change", () => {
    for (const file of input.files) {
      const card = template.content.firstElementChild.cloneNode(true);
      const state = { file, card, learners: new Map(), done: false };
      const img = card.querySelector(".preview img");
      const type = card.querySelector(".filetype");
      img.src = URL.createObjectURL(file);
      img.alt = "Preview of a chosen photo";
      img.hidden = false;
      // Browsers other than Safari cannot show HEIC; say what it is instead.
      img.addEventListener("error", () => { img.hidden = true; type.textContent = "Photo (" + (file.type || "HEIC") + ")"; });
      picker(card, chips(card, state.learners));
      nameCheck(card);
      cards.append(card);
      pending.push(state);
      // Each bar says whose progress it is, or a screen reader hears several identical ones.
      card.querySelector("progress").setAttribute("aria-label", "Upload progress, photo " + pending.length);
      card.setAttribute("aria-label", "Photo " + pending.length);
    }
    input.value = "";
    send.disabled = pending.every((s) => s.done);
  });

  // An upload refused: the server's words, and a link when it names the photo to edit instead
  // (the same picture uploaded before with other details).
  function refused(result, body, status) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = "Not uploaded: " + (body.message || "the server answered " + status);
    const edit = body.detail && body.detail.edit;
    if (typeof edit === "string" && edit.startsWith("/tutor/photos/")) {
      const a = document.createElement("a");
      a.href = edit;
      a.textContent = "Edit that photo";
      p.append(" ", a);
    }
    result.replaceChildren(p);
  }

  function upload(state) {
    return new Promise((resolve) => {
      const card = state.card;
      const data = new FormData();
      data.append("file", state.file, "upload");
      for (const name of ["caption", "alt_text", "title", "tags"]) {
        data.append(name, card.querySelector("input[name=" + name + "]").value);
      }
      data.append("learner_ids", Array.from(state.learners.keys()).join(","));
      data.append("all_tagged", card.querySelector("input[name=all_tagged]").checked ? "true" : "false");
      const purposes = Array.from(card.querySelectorAll("input[name=purposes]:checked")).map((c) => c.value);
      data.append("purposes", purposes.join(","));
      const progress = card.querySelector("progress");
      const result = card.querySelector(".result");
      progress.hidden = false;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/photos");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status === 200 || xhr.status === 201) {
          progress.value = 100;
          state.done = true;
          card.querySelectorAll("input, button").forEach((el) => { el.disabled = true; });
          fetch("/tutor/photos/" + encodeURIComponent(body.id) + "/status", { credentials: "same-origin" })
            .then((r) => r.text())
            .then((html) => {
              // Our own server-rendered, escaped fragment.
              result.innerHTML = html;
              resolve(true);
            });
        } else {
          refused(result, body, xhr.status);
          resolve(false);
        }
      });
      xhr.addEventListener("error", () => {
        const p = document.createElement("p");
        p.className = "error";
        p.textContent = "Not uploaded: the connection failed. Check your signal and press Upload again.";
        result.replaceChildren(p);
        resolve(false);
      });
      xhr.send(data);
    });
  }

  // A photo chosen and described but not uploaded yet would be lost by leaving the page: the
  // browser asks first.
  window.addEventListener("beforeunload", (event) => {
    const unsent = pending.some((state) => !state.done);
    if (unsent) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  send.addEventListener("click", async () => {
    send.disabled = true;
    for (const state of pending) {
      if (!state.done) await upload(state);
    }
    send.disabled = pending.every((s) => s.done);
  });
})();
