#!/usr/bin/env node
// Judges descriptor texts as a default Backstage catalog does, with Backstage's own
// @backstage/catalog-model (and the `yaml` parser the catalog uses). Shipyard's differential
// test (tests/conformance/test_backstage_differential.py) sends batches and compares.
//
// Protocol: one JSON line per batch on stdin, {"texts": ["<yaml>", ...]}; one JSON line per
// batch on stdout, [{"error": <string|null>, "documents": [{"valid", "ref", "error"}]}].
//
// The steps are those of @backstage/plugin-catalog-backend for a file it reads:
//   1. parseEntityYaml: every YAML document (merge keys off); a document with a YAML error
//      is an error (the others are still read), an empty document is skipped, a non-object
//      document is an error, a document that cannot be converted fails the whole file;
//   2. the envelope check (entityEnvelopeSchemaValidator);
//   3. PlaceholderProcessor: {$text: url} becomes the file's text, {$json|$yaml: url} its
//      parsed content (stand-ins here: no file is read);
//   4. the default entity policies, in CatalogBuilder's order: SchemaValid,
//      DefaultNamespace, NoForeignRootFields, FieldFormat;
//   5. BuiltinKindsEntityProcessor.validateEntityKind: the first kind validator that
//      recognises the entity judges it; none recognising it is an error;
//   6. BuiltinKindsEntityProcessor.postProcessEntity: every relation field's references are
//      parsed (parseEntityRef); one that does not parse fails the entity's processing.
'use strict';

const readline = require('node:readline');
const YAML = require('yaml');
const model = require('@backstage/catalog-model');

const policies = model.EntityPolicies.allOf([
  new model.SchemaValidEntityPolicy(),
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(),
]);
const kindValidators = [
  model.apiEntityV1alpha1Validator,
  model.componentEntityV1alpha1Validator,
  model.resourceEntityV1alpha1Validator,
  model.groupEntityV1alpha1Validator,
  model.locationEntityV1alpha1Validator,
  model.userEntityV1alpha1Validator,
  model.systemEntityV1alpha1Validator,
  model.domainEntityV1alpha1Validator,
];
const validateEnvelope = model.entityEnvelopeSchemaValidator();
// BuiltinKindsEntityProcessor.postProcessEntity: [field, defaultKind] per kind.
const RELATIONS = {
  Component: [
    ['owner', 'Group'], ['subcomponentOf', 'Component'], ['providesApis', 'API'],
    ['consumesApis', 'API'], ['dependsOn', undefined], ['dependencyOf', undefined],
    ['system', 'System'],
  ],
  API: [['owner', 'Group'], ['system', 'System']],
  Resource: [
    ['owner', 'Group'], ['dependsOn', undefined], ['dependencyOf', undefined],
    ['system', 'System'],
  ],
  User: [['memberOf', 'Group']],
  Group: [['parent', 'Group'], ['children', 'Group'], ['members', 'User']],
  System: [['owner', 'Group'], ['domain', 'Domain']],
  Domain: [['owner', 'Group'], ['subdomainOf', 'Domain']],
};
const RESOLVED = { text: 'resolved text', json: {}, yaml: {} };

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function placeholders(data) {
  if (Array.isArray(data)) return data.map(placeholders);
  if (!isPlainObject(data)) return data;
  const keys = Object.keys(data);
  if (!keys.some((k) => k.startsWith('$'))) {
    return Object.fromEntries(keys.map((k) => [k, placeholders(data[k])]));
  }
  if (keys.length !== 1) return data;
  const resolver = keys[0].substring(1);
  if (!(resolver in RESOLVED)) return data;
  if (typeof data[keys[0]] !== 'string') {
    throw new Error(`Placeholder $${resolver} expected a string value`);
  }
  return structuredClone(RESOLVED[resolver]);
}

async function judgeEntity(json) {
  const envelope = validateEnvelope(json);
  const entity = await policies.enforce(placeholders(envelope));
  let recognised = false;
  for (const validator of kindValidators) {
    if (await validator.check(entity)) {
      recognised = true;
      break;
    }
  }
  if (!recognised) {
    throw new Error(`No processor recognized the entity as valid (kind ${entity.kind})`);
  }
  const namespace = entity.metadata.namespace || model.DEFAULT_NAMESPACE;
  for (const [field, defaultKind] of RELATIONS[entity.kind] ?? []) {
    const targets = entity.spec[field];
    if (!targets) continue;
    for (const target of [targets].flat()) {
      model.parseEntityRef(target, { defaultKind, defaultNamespace: namespace });
    }
  }
  return entity;
}

async function judgeText(text) {
  let documents;
  try {
    documents = YAML.parseAllDocuments(text, { merge: false }).filter((d) => d);
  } catch (e) {
    return { error: `Failed to parse YAML: ${e}`, documents: [] };
  }
  const verdicts = [];
  for (const document of documents) {
    if (document.errors?.length) {
      // the catalog reports the error and goes on with the file's other documents
      verdicts.push({ valid: false, ref: null, error: `YAML error: ${document.errors[0]}` });
      continue;
    }
    let json;
    try {
      json = document.toJSON();
    } catch (e) {
      // parseEntityYaml does not catch this either: reading the file fails
      return { error: `YAML error: ${e}`, documents: verdicts };
    }
    if (json === null) continue;
    if (!isPlainObject(json)) {
      verdicts.push({ valid: false, ref: null, error: `Expected object at root` });
      continue;
    }
    try {
      const entity = await judgeEntity(json);
      verdicts.push({ valid: true, ref: model.stringifyEntityRef(entity), error: null });
    } catch (e) {
      verdicts.push({ valid: false, ref: null, error: String(e && e.message ? e.message : e) });
    }
  }
  return { error: null, documents: verdicts };
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { texts } = JSON.parse(line);
    const results = [];
    for (const text of texts) results.push(await judgeText(text));
    process.stdout.write(`${JSON.stringify(results)}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`judge.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
