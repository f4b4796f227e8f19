// jifen's GraphiQL: the IDE talks to the page's own /graphql over HTTP and WebSocket.
// Headers (the bearer key) are kept in memory only unless the user ticks
// "persist headers" in GraphiQL's settings.
(function () {
  "use strict";
  var endpoint = window.location.origin + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    // Headers typed in the editor become the connection_init payload, where jifen reads
    // {"Authorization": "Bearer <key>"} for subscriptions.
    subscriptionUrl: endpoint.replace(/^http/, "ws"),
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: true,
      defaultHeaders: '{\n  "Authorization": "Bearer jf_..."\n}',
    })
  );
})();
