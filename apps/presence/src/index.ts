export * from './presence.service';
export * from './presence-store';
export * from './presence.app';
