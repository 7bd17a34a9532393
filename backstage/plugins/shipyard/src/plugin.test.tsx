import { screen } from '@testing-library/react';
import { ApiBlueprint } from '@backstage/frontend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import {
  createExtensionTester,
  renderInTestApp,
} from '@backstage/frontend-test-utils';
import defaultExport, {
  EntityShipyardCard,
  EntityShipyardContent,
  shipyardEntityCard,
  shipyardEntityContent,
  shipyardFrontendPlugin,
  shipyardPlugin,
} from './index';

const component: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'orders' },
  spec: { type: 'service', owner: 'group:payments', lifecycle: 'production' },
};
const api: Entity = { ...component, kind: 'API' };

describe('the package', () => {
  it('exports the new frontend system plugin by default, with the API, the card and the tab', () => {
    expect(defaultExport).toBe(shipyardFrontendPlugin);
    expect(shipyardFrontendPlugin.pluginId).toBe('shipyard');
    const apiExtension = shipyardFrontendPlugin.getExtension('api:shipyard');
    const factory = createExtensionTester(apiExtension).get(ApiBlueprint.dataRefs.factory);
    expect(factory.api.id).toBe('plugin.shipyard.api');
    expect(shipyardFrontendPlugin.getExtension('entity-card:shipyard')).toBeDefined();
    expect(shipyardFrontendPlugin.getExtension('entity-content:shipyard')).toBeDefined();
  });

  it('shows the card and the tab on Components only, by an entity predicate', () => {
    const card = createExtensionTester(shipyardEntityCard);
    expect(card.get(EntityCardBlueprint.dataRefs.filterExpression)).toBeUndefined();
    const cardFilter = card.get(EntityCardBlueprint.dataRefs.filterFunction)!;
    expect(cardFilter(component)).toBe(true);
    expect(cardFilter(api)).toBe(false);

    const tab = createExtensionTester(shipyardEntityContent);
    const tabFilter = tab.get(EntityContentBlueprint.dataRefs.filterFunction)!;
    expect(tabFilter(component)).toBe(true);
    expect(tabFilter(api)).toBe(false);
  });

  it('renders the card in the new frontend system (here: a component not onboarded)', async () => {
    const card = createExtensionTester(shipyardEntityCard);
    await renderInTestApp(
      <EntityProvider entity={component}>{card.reactElement()}</EntityProvider>,
    );
    expect(await screen.findByText('orders is not onboarded to Shipyard')).toBeInTheDocument();
  });

  it('exports the legacy plugin, its API and its two extensions for older apps', () => {
    expect(shipyardPlugin.getId()).toBe('shipyard');
    expect([...shipyardPlugin.getApis()].map(factory => factory.api.id)).toEqual([
      'plugin.shipyard.api',
    ]);
    expect(EntityShipyardCard).toBeInstanceOf(Function);
    expect(EntityShipyardContent).toBeInstanceOf(Function);
  });
});
