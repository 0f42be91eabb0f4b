export { parseClamdAddress, describeClamdAddress, type ClamdAddress } from './clamd-address';
export { ClamdClient, parseScanReply, ScannerUnavailableError, type ClamdClientOptions, type ScanVerdict } from './clamd.client';
export { VIRUS_SCANNER, verdictKey, parseClamdVersion, type ClamdVersion, type VirusScanner } from './virus-scanner';
export { ScanningModule } from './scanning.module';
