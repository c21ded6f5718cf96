/**
 * The library entry (package.json `main`): what embedding Countersign in another Node program
 * needs — build the service from a configuration and run it — and the CLI's entry point. Everything
 * else is internal and may change.
 */
export { createApp, type App } from './app';
export { defaultConfig, loadConfig, type ConfigOverrides, type ServiceConfig } from './config/config';
export { createLogger, type Logger } from './logging/logger';
export { main } from './cli/main';
