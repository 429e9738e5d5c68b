/**
 * Configuration of every service: seed 004's `config.yaml`, a secrets file kept out of git,
 * environment variables and command-line flags, validated by one zod schema that holds every
 * default. Precedence: flags > env > secrets file > config file > defaults.
 *
 * ```ts
 * const { config } = loadConfig({ configFile: "config.yaml", env: process.env, flags: { "--port": "9000" }, service: "coordinator" });
 * config.coordinator.port; // 9000
 * config.worker.heartbeat_interval; // milliseconds
 * ```
 */
export { DURATION_RULE, Duration, formatDuration, parseDuration } from "@openclaw/protocol";
export { editDistance, envWarnings, knownEnvNames, OTHER_ENV } from "./env-check.js";
export { ConfigError, type LoadConfigOptions, type LoadedConfig, loadConfig } from "./load.js";
export { type Config, type ConfigInput, ConfigSchema, configKeys, defaultNodeId, Labels } from "./schema.js";
export { FILE_ENV, flagPath, SETTING_SOURCES, type SettingSource } from "./sources.js";
export { taskDefaults } from "./task-defaults.js";
