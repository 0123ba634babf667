export * from './vcard.module';
