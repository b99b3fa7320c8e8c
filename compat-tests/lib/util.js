'use strict';

const assert = require('node:assert/strict');

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UUID_RE = new RegExp(`^${UUID}$`);
const PIPELINE_ID_RE = new RegExp(`^${UUID}_kurento\\.MediaPipeline$`);

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects if `promise` does not settle within `ms`. */
function within(ms, promise, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Asserts that a kurento-client promise rejects with the given JSON-RPC error code. */
async function rejectsWithCode(promise, code, what = '') {
  let error;
  try {
    await within(15000, Promise.resolve(promise), what || `call expected to fail with ${code}`);
  } catch (e) {
    error = e;
  }
  assert.ok(error, `${what} should have failed with code ${code}`);
  assert.equal(error.code, code, `${what}: expected code ${code}, got ${error.code} (${error.message})`);
  return error;
}

/** Asserts a raw JSON-RPC response is an error with `code` (and optional data.type). */
function assertRpcError(resp, code, dataType) {
  assert.ok(resp.error, `expected an error response, got ${JSON.stringify(resp)}`);
  assert.equal(resp.error.code, code, `error code in ${JSON.stringify(resp)}`);
  assert.equal(typeof resp.error.message, 'string');
  assert.equal(resp.result, undefined, 'an error response carries no result');
  if (dataType !== undefined) {
    assert.deepEqual(resp.error.data, { type: dataType }, `error data in ${JSON.stringify(resp)}`);
  }
}

function childIdRe(parentId, type) {
  const escaped = parentId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped}/${UUID}_kurento\\.${type}$`);
}

/** Waits until fn() is truthy, polling. */
async function eventually(fn, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * Calls a kurento-client proxy method in its callback form. The generated promise form of invoke-based
 * methods (getName, getTag, setName, ...) swallows server errors: its default callback console.traces
 * the error and the promise RESOLVES with undefined. Only the callback form reports the error.
 */
function viaCallback(obj, method, ...args) {
  return new Promise((resolve, reject) => {
    obj[method](...args, (error, value) => (error ? reject(error) : resolve(value)));
  });
}

module.exports = {
  viaCallback,
  UUID,
  UUID_RE,
  PIPELINE_ID_RE,
  sleep,
  within,
  rejectsWithCode,
  assertRpcError,
  childIdRe,
  eventually,
};
