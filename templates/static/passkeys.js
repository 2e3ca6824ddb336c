// Passkeys on Gatehouse's pages. A form marked data-passkey="get" (sign-in,
// second factor) or data-passkey="create" (adding a passkey) is shown only
// where the browser has WebAuthn; elsewhere its data-passkey-unavailable note
// is shown instead. A form marked data-passkey-proof (a change to the account
// of a passkey holder) is confirmed with a passkey when it is submitted.
// Options come from the form's data-options attribute (JSON) or, with
// data-options-url, from a POST of the form's hidden fields to that
// same-origin URL. The browser's answer goes back in the form's "credential"
// field and the form is submitted like any other, so the server decides what
// happens next. The sign-in form with data-conditional also offers passkeys
// in the email field's autofill where the browser can.
(function () {
  "use strict";

  function bytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function text(buffer) {
    if (!buffer) return null;
    var view = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < view.length; i++) raw += String.fromCharCode(view[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: bytes(c.id) });
    });
  }

  // The server's JSON options as the WebAuthn API takes them.
  function decode(kind, options) {
    var key = Object.assign({}, options.publicKey, { challenge: bytes(options.publicKey.challenge) });
    if (kind === "create") {
      key.user = Object.assign({}, key.user, { id: bytes(key.user.id) });
      key.excludeCredentials = withIds(key.excludeCredentials);
    } else {
      key.allowCredentials = withIds(key.allowCredentials);
    }
    return key;
  }

  // The browser's answer as JSON the server reads.
  function encode(credential) {
    var r = credential.response;
    var response = r.attestationObject
      ? {
          attestationObject: text(r.attestationObject),
          clientDataJSON: text(r.clientDataJSON),
          transports: r.getTransports ? r.getTransports() : undefined
        }
      : {
          authenticatorData: text(r.authenticatorData),
          clientDataJSON: text(r.clientDataJSON),
          signature: text(r.signature),
          userHandle: text(r.userHandle)
        };
    return JSON.stringify({
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    });
  }

  function say(form, message) {
    var note = form.querySelector("[data-passkey-message]");
    if (note) {
      note.textContent = message;
      note.hidden = false;
    }
  }

  function options(form) {
    if (form.dataset.options) return Promise.resolve(JSON.parse(form.dataset.options));
    var body = new URLSearchParams();
    form.querySelectorAll("input[type=hidden]").forEach(function (input) {
      if (input.name && input.name !== "credential") body.append(input.name, input.value);
    });
    return fetch(form.dataset.optionsUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("options " + response.status);
        return response.json();
      });
  }

  // A ceremony: its options (the fetch is kept in `fetching`, so a later
  // ceremony of the same form waits for it and its challenge is the newest),
  // the browser's answer, and the form submitted with it.
  function ceremony(form, mediation, signal) {
    var kind = form.dataset.passkey || "get";
    var asked = (form.fetching || Promise.resolve()).catch(function () {}).then(function () {
      return options(form);
    });
    form.fetching = asked;
    return asked.then(function (json) {
      var request = {};
      request.publicKey = decode(kind, json);
      if (kind === "create") return navigator.credentials.create(request);
      if (mediation) request.mediation = mediation;
      if (signal) request.signal = signal;
      return navigator.credentials.get(request);
    }).then(function (credential) {
      if (!credential) return;
      form.querySelector("input[name=credential]").value = encode(credential);
      form.submit();
    });
  }

  function failed(form, error) {
    if (error && error.name === "AbortError") return;
    if (error && error.name === "NotAllowedError") {
      say(form, "The passkey request was cancelled or timed out. Try again.");
    } else if (error && error.name === "InvalidStateError") {
      say(form, "This passkey is registered already.");
    } else {
      say(form, "Your passkey could not be used. Reload the page and try again.");
    }
  }

  var supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
  document.querySelectorAll("form[data-passkey-proof]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var credential = form.querySelector("input[name=credential]");
      if (!supported || credential.value) return;
      event.preventDefault();
      ceremony(form, null, null).catch(function (e) { failed(form, e); });
    });
  });
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var unavailable = document.querySelector("[data-passkey-unavailable]");
    if (!supported) {
      if (unavailable) unavailable.hidden = false;
      return;
    }
    form.hidden = false;
    var conditional = null;
    var start = form.querySelector("[data-passkey-start]");
    if (start) {
      start.addEventListener("click", function () {
        if (conditional) conditional.abort();
        conditional = null;
        ceremony(form, null, null).catch(function (e) { failed(form, e); });
      });
    }
    if (form.dataset.conditional !== undefined && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) return;
        conditional = new AbortController();
        ceremony(form, "conditional", conditional.signal).catch(function (e) { failed(form, e); });
      });
    }
  });
})();
