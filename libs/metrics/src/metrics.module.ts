import { Module } from '@nestjs/common';
import { MetricsServerCloser } from './metrics-server';
import { MetricsService } from './metrics.service';

@Module({ providers: [MetricsService, MetricsServerCloser], exports: [MetricsService, MetricsServerCloser] })
export class MetricsModule {}
