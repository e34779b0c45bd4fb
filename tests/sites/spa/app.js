// A single-page app: every path is this page; the script draws the menu, the route's content,
// the footer (follow icons, "Book a demo") and, after load, the lead form of /demo.
(function () {
  var ROUTES = {
    "/": {title: "Acme Cloud", body: '<h1>Acme Cloud</h1><p>Deploy in minutes.</p>' +
          '<a href="/pricing">See pricing</a> <a href="/blog/first-post">Read our first post</a>'},
    "/pricing": {title: "Pricing", body: '<h1>Pricing</h1><p>$49 a month.</p><a href="/signup">Start a trial</a>'},
    "/about": {title: "About", body: '<h1>About us</h1><p>We are Acme.</p>'},
    "/demo": {title: "Book a demo", body: '<h1>Book a demo</h1><div id="form-slot"></div>'},
    "/signup": {title: "Sign up", body: '<h1>Sign up</h1>'},
    "/blog/first-post": {title: "First post", body: '<article><h1>First post</h1><p>Hello.</p>' +
          '<a href="/blog/second-post">Next post</a></article>'},
    "/blog/second-post": {title: "Second post", body: '<article><h1>Second post</h1><p>Again.</p>' +
          '<a href="/demo">Book a demo</a></article>'}
  };
  function chrome() {
    return '<nav class="menu"><a href="/">Home</a> <a href="/pricing">Pricing</a> <a href="/about">About</a> ' +
      '<a href="/blog/first-post">Blog</a></nav><main id="content"></main>' +
      '<footer><a href="/demo">Book a demo</a> ' +
      '<a href="https://x.com/acmecloud" aria-label="X"><svg></svg></a> ' +
      '<a href="https://www.linkedin.com/company/acmecloud" aria-label="LinkedIn"><svg></svg></a></footer>';
  }
  function show(path) {
    var route = ROUTES[path] || {title: "Not found", body: "<h1>Not found</h1>"};
    document.title = route.title;
    document.getElementById("content").innerHTML = route.body;
    if (path === "/demo") {
      setTimeout(function () {  // the lead form, injected after load
        document.getElementById("form-slot").innerHTML =
          '<form action="/api/leads" method="post"><input type="email" name="email" placeholder="Work e-mail">' +
          '<button type="submit">Book my demo</button></form>';
      }, 400);
    }
  }
  document.getElementById("root").innerHTML = chrome();
  document.addEventListener("click", function (e) {  // client-side routing
    var a = e.target.closest("a");
    if (a && a.getAttribute("href").charAt(0) === "/") {
      e.preventDefault();
      history.pushState({}, "", a.getAttribute("href"));
      show(location.pathname);
    }
  });
  window.addEventListener("popstate", function () { show(location.pathname); });
  show(location.pathname);
  // What a hostile script would try: reach another server on the visitor's own machine.
  if (window.CANARY) {
    fetch(window.CANARY + "/fetch").catch(function () {});
    var img = new Image(); img.src = window.CANARY + "/img.gif";
    try { navigator.sendBeacon(window.CANARY + "/beacon", "x"); } catch (e) {}
    try { new WebSocket(window.CANARY.replace("http", "ws") + "/ws"); } catch (e) {}
    var s = document.createElement("script"); s.src = window.CANARY + "/script.js"; document.head.appendChild(s);
  }
})();
