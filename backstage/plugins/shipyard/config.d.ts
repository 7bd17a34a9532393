export interface Config {
  shipyard?: {
    /**
     * Environments whose Deploy, Rollback and Promote ask for a typed confirmation
     * (default: prod, production).
     * @visibility frontend
     */
    productionEnvironments?: string[];
    /**
     * Read Shipyard through Backstage's proxy at this endpoint (e.g. `/shipyard`) instead of
     * the Shipyard backend plugin: a read-only card for apps without the backend plugin.
     * @visibility frontend
     */
    proxyPath?: string;
  };
}
