// The online ranking service (docs/serving.md): HTTP front in TypeScript, ranking in a Python worker.
export { startRankingService, type RankingService, type StartServiceOptions } from "./server.js";
export { RankingBackend, type RecommendQuery, type RankedItem, type QueryOutcome, type CatalogueInfo } from "./backend.js";
export { serveDefaults, serveSettingsForRun, workersSettingsForRun, checkRunDir, type ServeSettings, type ServeBenchSettings } from "./config.js";
export { ServeError } from "./errors.js";
export { serveSchemaProblem, type ServeSchemaName } from "./schemas.js";
export { buildAnnIndex, type BuildIndexResult } from "./build-index.js";
