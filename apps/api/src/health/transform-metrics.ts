import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Counter } from 'prom-client';
import { FilePreviewsService } from '@app/files';
import { MetricsService } from '@app/metrics';

/** `filehub_image_transforms_total{result}`: image transforms of this API process by how they went. */
@Injectable()
export class TransformMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly previews: FilePreviewsService,
  ) {}

  onModuleInit(): void {
    const transforms = new Counter({
      name: 'filehub_image_transforms_total',
      help: 'Image transforms by result: miss (rendered by sharp), hit (served from a derived object), busy (no slot in time), too_large (pixel limits), timeout',
      labelNames: ['result'],
      registers: [this.metrics.registry],
    });
    for (const result of ['hit', 'miss', 'busy', 'too_large', 'timeout']) transforms.inc({ result }, 0);
    this.previews.observe((result) => transforms.inc({ result }));
  }
}
