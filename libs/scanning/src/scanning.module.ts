import { Logger, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { parseClamdAddress } from './clamd-address';
import { ClamdClient } from './clamd.client';
import { VIRUS_SCANNER, type VirusScanner } from './virus-scanner';

// The scanner when CLAMAV_ADDRESS is set, null otherwise (scanning off).
const virusScanner = {
  provide: VIRUS_SCANNER,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig): VirusScanner | null => {
    const { clamavAddress, timeoutMs, maxStreamBytes } = config.scanning;
    if (!clamavAddress) return null;
    const client = new ClamdClient({ address: parseClamdAddress(clamavAddress), timeoutMs, maxStreamBytes });
    new Logger('Scanning').log(`Virus scanning on: every upload is scanned by clamd at ${client.address} before READY`);
    return client;
  },
};

@Module({ providers: [virusScanner], exports: [VIRUS_SCANNER] })
export class ScanningModule {}
