export * from './subscription';
export * from './roster-xml';
