// Run with `npm test` (compiles src/ to dist/ first).
const test = require('node:test');
const assert = require('node:assert/strict');
const { isResourcePermission } = require('@backstage/plugin-permission-common');
const common = require('../dist');

test('the four resource permissions on catalog entities', () => {
  const names = common.shipyardPermissions.map(p => p.name);
  assert.deepEqual(names, [
    'shipyard.component.deploy',
    'shipyard.component.rollback',
    'shipyard.component.promote',
    'shipyard.component.destroy',
  ]);
  for (const permission of common.shipyardPermissions) {
    assert.equal(permission.type, 'resource');
    assert.equal(permission.resourceType, 'catalog-entity');
    assert.ok(isResourcePermission(permission, 'catalog-entity'));
  }
  assert.equal(common.shipyardComponentDestroyPermission.attributes.action, 'delete');
});

test('an entity is a Shipyard component when it carries a shipyard.dev/ annotation', () => {
  assert.equal(
    common.isShipyardEntity({ metadata: { annotations: { 'shipyard.dev/environments': 'dev' } } }),
    true,
  );
  assert.equal(
    common.isShipyardEntity({ metadata: { annotations: { 'backstage.io/source-location': 'x' } } }),
    false,
  );
  assert.equal(common.isShipyardEntity({ metadata: {} }), false);
});
