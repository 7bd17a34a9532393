export interface Config {
  /** Shipyard, as the shipyard-backend plugin calls it. */
  shipyard?: {
    /**
     * Shipyard's base URL, e.g. https://shipyard.example.com (the API is under /api/v1).
     */
    baseUrl: string;
    /**
     * A Shipyard API token of the service user that SHIPYARD_ON_BEHALF_SERVICES lists
     * (`shipyard token create --name backstage --role admin`).
     * @visibility secret
     */
    token: string;
    /**
     * The HS256 key of on-behalf-of assertions, SHIPYARD_ON_BEHALF_SECRET on the Shipyard
     * side (at least 32 characters).
     * @visibility secret
     */
    onBehalfSecret: string;
    /**
     * The `iss` of the assertions, SHIPYARD_ON_BEHALF_ISSUER on the Shipyard side.
     * Default: backstage.
     */
    onBehalfIssuer?: string;
  };
}
