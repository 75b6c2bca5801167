// Config names by id, for the lists that carry only an id (recent failures, executions):
// each asked once per page load, so a refresh costs nothing for names already known.

import { ApiError, api } from "./api.js";

const known = new Map();

export async function namesOf(ids) {
  const missing = [...new Set(ids)].filter((id) => !known.has(id));
  await Promise.all(missing.map(async (id) => {
    try {
      known.set(id, (await api(`/configs/${id}`)).name);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      known.set(id, `deleted config ${id}`);
    }
  }));
  return (id) => known.get(id) || `config ${id}`;
}

export function rename(id, name) {
  known.set(id, name);
}
