import { AppError } from '@app/errors';
import { parseCreation } from './tus-creation';

const b64 = (value: string) => Buffer.from(value).toString('base64');

function refusal(headers: Record<string, string>): { code: string; message: string } {
  try {
    parseCreation(headers);
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('accepted');
}

describe('parseCreation (tus creation headers)', () => {
  it('reads the length and the metadata, with the aliases tus clients use', () => {
    expect(parseCreation({ 'upload-length': '123', 'upload-metadata': `filename ${b64('report.pdf')},filetype ${b64('application/pdf')},category ${b64('pdf')},visibility ${b64('public')}` })).toEqual({
      filename: 'report.pdf',
      contentType: 'application/pdf',
      categoryKey: 'pdf',
      visibility: 'PUBLIC',
      size: 123,
    });
    // Uppy sends name and type; an empty value counts as absent.
    expect(parseCreation({ 'upload-length': '0', 'upload-metadata': `name ${b64('Grüße.txt')},type ${b64('text/plain')},category ` })).toEqual({
      filename: 'Grüße.txt',
      contentType: 'text/plain',
      categoryKey: undefined,
      visibility: undefined,
      size: 0,
    });
  });

  it('refuses what cannot be checked before the bytes come, naming the header', () => {
    const meta = `filename ${b64('a.txt')}`;
    expect(refusal({ 'upload-defer-length': '1', 'upload-metadata': meta }).message).toContain('Upload-Length is required');
    expect(refusal({ 'upload-metadata': meta }).message).toBe('Upload-Length must be the file size in bytes');
    expect(refusal({ 'upload-length': '-1', 'upload-metadata': meta }).message).toBe('Upload-Length must be the file size in bytes');
    expect(refusal({ 'upload-length': '1e3', 'upload-metadata': meta }).message).toBe('Upload-Length must be the file size in bytes');
    expect(refusal({ 'upload-length': '1', 'upload-concat': 'partial', 'upload-metadata': meta }).message).toContain('Upload-Concat');
    expect(refusal({ 'upload-length': '1', 'upload-metadata': 'filename not base64!' }).message).toContain('Upload-Metadata is invalid');
    expect(refusal({ 'upload-length': '1', 'upload-metadata': `filetype ${b64('text/plain')}` }).message).toContain('must carry the file name');
    expect(refusal({ 'upload-length': '1' }).message).toContain('must carry the file name');
    expect(refusal({ 'upload-length': '1', 'upload-metadata': `${meta},visibility ${b64('everyone')}` })).toEqual({ code: 'BAD_REQUEST', message: "visibility must be 'private' or 'public'" });
  });
});
