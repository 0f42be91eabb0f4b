import { Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { Public, TokenService } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { Errors } from '@app/errors';

/** The subject and organization of the console's development sign-in. */
export const DEV_USER = { sub: 'dev-user', org: 'dev-org' };

/**
 * What the web console (served at `/`) asks the server besides the public API: whether the development sign-in is
 * on, and, when it is, a token for the development user. It is on only while the server runs with its built-in
 * development secret (no AUTH_JWT_SECRET) and not in production, i.e. exactly when any token could be minted anyway.
 */
@Public()
@Controller('console')
export class ConsoleController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tokens: TokenService,
  ) {}

  private get devSignIn(): boolean {
    return this.config.auth.usingDevelopmentSecret && this.config.env !== 'production';
  }

  @Get('config.json')
  configuration(): { devSignIn: boolean } {
    return { devSignIn: this.devSignIn };
  }

  @Post('dev-token')
  @HttpCode(200)
  devToken(): { token: string } {
    if (!this.devSignIn) throw Errors.forbidden('The development sign-in is off: the server has a real AUTH_JWT_SECRET');
    return { token: this.tokens.sign({ ...DEV_USER, role: 'user' }, 8 * 3600) };
  }
}
