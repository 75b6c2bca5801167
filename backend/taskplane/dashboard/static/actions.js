// What a schedule may do in its status and kind (API.md's schedule control table), so the
// page only offers those; and the confirmation the destructive ones ask for.

import { el } from "./dom.js";

export const ACTIONS = [
  ["start", "Start"], ["pause", "Pause"], ["resume", "Resume"], ["reload", "Reload"], ["stop", "Stop"],
];

const BY_STATUS = {
  inactive: ["start"],
  error: ["start", "stop"],
  active: ["pause", "reload", "stop"],
  paused: ["resume", "stop"],
};

// the control actions allowed for a config ({scheduler_type, schedule_status}); "run" always
export function allowed(config) {
  if (config.scheduler_type === "manual") return new Set(["run"]);
  return new Set([...(BY_STATUS[config.schedule_status] || []), "run"]);
}

const QUESTIONS = {
  stop: (what) => `Stop ${what}? Its schedule is removed until someone starts it again.`,
  delete: (what) => `Delete ${what}? Its schedule, history and execution records go with it.`,
};

// true when the action needs no confirmation, or the operator confirmed it
export function confirmed(action, what) {
  const question = QUESTIONS[action];
  return !question || window.confirm(question(what));
}

export function actionButton(action, label, onclick, attrs = {}) {
  return el("button", { type: "button", class: action === "delete" || action === "stop" ? "write danger" : "write",
    dataset: { action }, onclick, ...attrs }, label);
}
