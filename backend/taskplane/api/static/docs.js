// Starts Swagger UI on the api's own OpenAPI document. A file, not an inline script, so the
// page runs under a Content-Security-Policy without 'unsafe-inline'.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // no badge fetched from the public validator: nothing loads from another origin
    validatorUrl: null,
    // BaseLayout needs only the api preset (the standalone one draws a top bar whose logo
    // is an inline <style>, which the policy refuses)
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
