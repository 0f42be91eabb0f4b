export * from './file-lifecycle';
export * from './files.repository';
export * from './files.service';
export * from './file-process.job';
export * from './delete-object.job';
export * from './files.module';
export * from './content-type';
export * from './upload-meter';
