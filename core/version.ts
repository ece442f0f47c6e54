/** This build's version, as devices report it in their signed status (a test keeps it equal to package.json's). */
export const TRESOR_VERSION = '0.1.0'
