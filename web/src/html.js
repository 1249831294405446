// One place that binds htm to Preact, so every component writes html`...`
// (tagged templates, no build-time JSX). Text in templates is escaped by
// Preact; nothing here ever sets innerHTML.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);
